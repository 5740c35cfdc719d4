#!/usr/bin/python3
"""torch_reference.py — the drift_bench workloads in PyTorch, the reference we time against.

    /usr/bin/python3 bench/torch_reference.py --threads 2 --out build/bench/torch.json
    build/bench/drift_bench --threads 2 --torch build/bench/torch.json

Every row here has the same name, the same shapes and the same method as in bench/bench.cpp:
inputs prepared untimed; one call, then calls for >= 0.1 s to estimate the time per call;
then `reps` repetitions of n calls, n chosen so a repetition takes >= 20 ms; the result is the
median time per call. Products write into preallocated outputs (out=), like drift's gemm.

It also reports which BLAS PyTorch really uses: Debian's torch is linked against the generic
libblas.so.3, which is OpenBLAS only if libopenblas0-pthread is installed; otherwise it is the
slow reference BLAS and any comparison would flatter drift.

Adding a row: add an entry to WORKLOADS with the name used in bench.cpp and a function that
prepares the inputs and returns the call to time.
"""
import argparse
import ctypes
import json
import math
import os
import platform
import subprocess
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("torch_reference.py: PyTorch not found. Run it with Debian's /usr/bin/python3 "
             "(apt-get install python3-torch), or: scripts/install-deps.sh bench")
import torch.nn as nn
import torch.nn.functional as F


# ---- workloads ----------------------------------------------------------------------------

def gemm(trans_a, trans_b, M, N, K, batch=1):
    """C = op(A) op(B), stored as drift_bench stores it (A^T kept as a [K, M] matrix, ...)."""
    def prepare():
        a = torch.randn(batch, K, M) if trans_a else torch.randn(batch, M, K)
        b = torch.randn(batch, N, K) if trans_b else torch.randn(batch, K, N)
        op_a = a.transpose(1, 2) if trans_a else a
        op_b = b.transpose(1, 2) if trans_b else b
        c = torch.empty(batch, M, N)
        if batch == 1:
            op_a2, op_b2, c2 = op_a[0], op_b[0], c[0]
            return lambda: torch.mm(op_a2, op_b2, out=c2)
        return lambda: torch.bmm(op_a, op_b, out=c)
    return prepare, 2.0 * M * N * K * batch


def conv_rows(label, batch, c_in, c_out, size, kernel, stride=1):
    """The three kernels of one Conv2d layer, as autograd runs them: aten::convolution forward,
    aten::convolution_backward for dX alone and for dW + db (drift_bench's conv rows)."""
    pad = kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    flops = 2.0 * batch * c_out * out * out * c_in * kernel * kernel

    def tensors():
        x = torch.randn(batch, c_in, size, size)
        w = torch.randn(c_out, c_in, kernel, kernel) * 0.1
        b = torch.randn(c_out)
        gy = torch.randn(batch, c_out, out, out)
        return x, w, b, gy

    def forward():
        x, w, b, _ = tensors()
        return lambda: torch.conv2d(x, w, b, stride, pad)

    def backward(mask):
        x, w, b, gy = tensors()
        backward_op = torch.ops.aten.convolution_backward
        return lambda: backward_op(gy, x, w, [c_out], [stride, stride], [pad, pad], [1, 1],
                                   False, [0, 0], 1, mask)

    return {f"{label} fwd": (forward, flops),
            f"{label} dX": (lambda: backward([True, False, False]), flops),
            f"{label} dW": (lambda: backward([False, True, True]), flops)}


def norm_rows(batch, channels, size, groups):
    """silu(group_norm(x)): inference (no graph) and forward + backward."""
    label = f"gn+silu {channels}@{size}"

    def forward():
        x = torch.randn(batch, channels, size, size)
        gamma, beta = torch.randn(channels), torch.randn(channels)

        def call():
            with torch.no_grad():
                F.silu(F.group_norm(x, groups, gamma, beta))
        return call

    def both():
        x = torch.randn(batch, channels, size, size, requires_grad=True)
        gamma = torch.randn(channels, requires_grad=True)
        beta = torch.randn(channels, requires_grad=True)
        gy = torch.randn(batch, channels, size, size)

        def call():
            x.grad = gamma.grad = beta.grad = None
            F.silu(F.group_norm(x, groups, gamma, beta)).backward(gy)
        return call

    return {f"{label} fwd": (forward, 0), f"{label} fwd+bwd": (both, 0)}


# ---- the models (the same layers, in the same order, as drift's) ----------------------------

class ToyModel(nn.Module):
    """The chapter-2 toy model (bench.cpp's ToyModel): conv 3->16, ReLU, + Linear(1, 16)(t)
    per channel, conv 16->3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 3, 3, padding=1)
        self.linear = nn.Linear(1, 16)

    def forward(self, x, t):
        h = F.relu(self.conv1(x))
        h = h + self.linear(t.view(-1, 1)).view(-1, 16, 1, 1)
        return self.conv2(h)


class SinusoidalEmbedding(nn.Module):
    """drift's F::sinusoidal_embedding: half = dim/2, freq_i = exp(-ln(10000) i / (half - 1)),
    cat(sin(t freq), cos(t freq))."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
        angle = t.view(-1, 1) * freq.view(1, -1)
        return torch.cat([angle.sin(), angle.cos()], dim=1)


class DDPMResBlock(nn.Module):
    """diffusion/models/ddpm_unet.h's DDPMResBlock: GroupNorm, SiLU, conv 3x3, + time, GroupNorm,
    SiLU, conv 3x3, + shortcut (1x1 conv when the channel count changes)."""

    def __init__(self, c_in, c_out, time_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x, time):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(time)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.shortcut(x) if self.shortcut is not None else x)


class DownLevel(nn.Module):
    def __init__(self, c_in, c, blocks, time_dim, groups, with_downsample):
        super().__init__()
        self.blocks = nn.ModuleList(
            [DDPMResBlock(c_in if b == 0 else c, c, time_dim, groups) for b in range(blocks)])
        self.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1) if with_downsample else None


class UpLevel(nn.Module):
    def __init__(self, c_in, skips, c, c_next, time_dim, groups):
        super().__init__()
        blocks, running = [], c_in
        for skip in skips:
            blocks.append(DDPMResBlock(running + skip, c, time_dim, groups))
            running = c
        self.blocks = nn.ModuleList(blocks)
        self.upsample_conv = nn.Conv2d(c, c_next, 3, padding=1) if c_next else None


class DDPMUNet(nn.Module):
    """diffusion/models/ddpm_unet.h's DDPMUNet, layer for layer (same parameter names and order)."""

    def __init__(self, image_channels=1, channels=(16, 32, 64), blocks_per_level=2,
                 time_encoding_dim=16, time_dim=64, groups=8):
        super().__init__()
        self.time_encoding = SinusoidalEmbedding(time_encoding_dim)
        self.time_mlp = nn.Sequential(nn.Linear(time_encoding_dim, time_dim), nn.SiLU(),
                                      nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(image_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips, running = [], channels[0]
        for level, c in enumerate(channels):
            self.down.append(DownLevel(running, c, blocks_per_level, time_dim, groups,
                                       level + 1 < len(channels)))
            skips += [c] * blocks_per_level
            running = c
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            level_skips = [skips.pop() for _ in range(blocks_per_level)]
            c_next = channels[level - 1] if level > 0 else 0
            self.up.append(UpLevel(running, level_skips, channels[level], c_next, time_dim, groups))
            running = c_next if level > 0 else channels[level]
        self.norm_out = nn.GroupNorm(groups, channels[0])
        self.conv_out = nn.Conv2d(channels[0], image_channels, 3, padding=1)

    def forward(self, x, t):
        time = F.silu(self.time_mlp(self.time_encoding(t)))
        h = self.conv_in(x)
        skips = []
        for level in self.down:
            for block in level.blocks:
                h = block(h, time)
                skips.append(h)
            if level.downsample is not None:
                h = level.downsample(h)
        for level in self.up:
            for block in level.blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), time)
            if level.upsample_conv is not None:
                h = level.upsample_conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class PositionalEncoding(nn.Module):
    """nn::PositionalEncoding (the tutorial's): pe[p, 2i] = sin(p 10000^(-2i/d)), pe[p, 2i+1] =
    cos(...), looked up by the timestep."""

    def __init__(self, d_model, max_len=5000):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, t):
        return self.pe[t.long()]


class ResnetBlock(nn.Module):
    """diffusion/models/mnist_unets.h's ResnetBlock (the tutorial's chapter-4 (E) block):
    GroupNorm(16), ReLU, conv 3x3, + proj(e), GroupNorm(16), ReLU, conv 3x3, + shortcut."""

    def __init__(self, c_in, c_out, embed_dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(16, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.proj = nn.Linear(embed_dim, c_out)
        self.norm2 = nn.GroupNorm(16, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x, e):
        h = self.conv1(F.relu(self.norm1(x)))
        h = h + self.proj(e)[:, :, None, None]
        h = self.conv2(F.relu(self.norm2(h)))
        return h + (self.shortcut(x) if self.shortcut is not None else x)


class Resample(nn.Module):
    """DownsampleConv (conv 3x3 stride 2) or UpsampleConv (nearest x2, conv 3x3): child `conv`."""

    def __init__(self, c_in, c_out, up):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=1 if up else 2, padding=1)
        self.up = up

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest") if self.up else x)


class ResUNet(nn.Module):
    """diffusion/models/mnist_unets.h's ResUNet, the tutorial's chapter-4 model (E), with its
    names: 558,753 parameters."""

    def __init__(self, embed_dim=64):
        super().__init__()
        self.embed = nn.Sequential(PositionalEncoding(embed_dim, 1000),
                                   nn.Linear(embed_dim, embed_dim), nn.ReLU(),
                                   nn.Linear(embed_dim, embed_dim), nn.ReLU())
        self.conv_in = nn.Conv2d(1, 16, 3, padding=1)
        self.enc1_1, self.enc1_2 = ResnetBlock(16, 16, embed_dim), ResnetBlock(16, 32, embed_dim)
        self.downconv1 = Resample(32, 32, up=False)
        self.enc2_1, self.enc2_2 = ResnetBlock(32, 32, embed_dim), ResnetBlock(32, 64, embed_dim)
        self.downconv2 = Resample(64, 64, up=False)
        self.bottleneck_1 = ResnetBlock(64, 64, embed_dim)
        self.bottleneck_2 = ResnetBlock(64, 64, embed_dim)
        self.upconv2 = Resample(64, 64, up=True)
        self.dec2_1, self.dec2_2 = ResnetBlock(128, 64, embed_dim), ResnetBlock(64, 32, embed_dim)
        self.upconv1 = Resample(32, 32, up=True)
        self.dec1_1, self.dec1_2 = ResnetBlock(64, 32, embed_dim), ResnetBlock(32, 16, embed_dim)
        self.norm_out = nn.GroupNorm(16, 16)
        self.conv_out = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, x, t):
        e = self.embed(t)
        x = self.conv_in(x)
        enc1 = self.enc1_2(self.enc1_1(x, e), e)
        enc2 = self.enc2_2(self.enc2_1(self.downconv1(enc1), e), e)
        x = self.bottleneck_2(self.bottleneck_1(self.downconv2(enc2), e), e)
        x = self.dec2_2(self.dec2_1(torch.cat([self.upconv2(x), enc2], 1), e), e)
        x = self.dec1_2(self.dec1_1(torch.cat([self.upconv1(x), enc1], 1), e), e)
        return self.conv_out(F.relu(self.norm_out(x)))


def unet_forward_flops(model, batch):
    """2 x the multiply-adds of every Conv2d and Linear in one forward pass (as bench.cpp)."""
    macs = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            macs[0] += output.numel() * module.in_channels // module.groups * \
                module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            macs[0] += output.numel() * module.in_features
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.randn(batch, 1, 28, 28), torch.randint(0, 1000, (batch,)).float())
    for h in handles:
        h.remove()
    return 2.0 * macs[0]


def training_step(model, x_t, t, noise):
    """zero_grad, forward, MSE against the noise, backward, Adam (bench.cpp's training_step).
    Gradients are set to None, as drift's zero_grad does."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def call():
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x_t, t), noise)
        loss.backward()
        optimizer.step()
    return call


def toy_step():
    torch.manual_seed(0)
    return training_step(ToyModel(), torch.randn(1, 3, 512, 512), torch.tensor([7.0]),
                         torch.randn(1, 3, 512, 512))


def unet_step():
    torch.manual_seed(0)
    return training_step(DDPMUNet(), torch.randn(128, 1, 28, 28),
                         torch.randint(0, 1000, (128,)).float(), torch.randn(128, 1, 28, 28))


def mnist_unet_e_step():
    torch.manual_seed(0)
    return training_step(ResUNet(), torch.randn(128, 1, 28, 28),
                         torch.randint(0, 1000, (128,)).float(), torch.randn(128, 1, 28, 28))


def unet_denoise():
    torch.manual_seed(0)
    model = DDPMUNet()
    x_t, t = torch.randn(64, 1, 28, 28), torch.randint(0, 1000, (64,)).float()

    def call():
        with torch.no_grad():
            model(x_t, t)
    return call


PIXELS28, PIXELS14 = 128 * 28 * 28, 128 * 14 * 14
WORKLOADS = {
    "sgemm 256": gemm(False, False, 256, 256, 256),
    "sgemm 512": gemm(False, False, 512, 512, 512),
    "sgemm 1024": gemm(False, False, 1024, 1024, 1024),
    "sgemm 2048": gemm(False, False, 2048, 2048, 2048),
    "conv28 1>16 fwd": gemm(False, False, 16, PIXELS28, 9),
    "conv28 16>32 fwd": gemm(False, False, 32, PIXELS28, 9 * 16),
    "conv28 16>32 dW": gemm(False, True, 32, 9 * 16, PIXELS28),
    "conv28 16>32 dX": gemm(True, False, 9 * 16, PIXELS28, 32),
    "conv14 32>64 fwd": gemm(False, False, 64, PIXELS14, 9 * 32),
    "conv14 32>64 dW": gemm(False, True, 64, 9 * 32, PIXELS14),
    "conv14 32>64 dX": gemm(True, False, 9 * 32, PIXELS14, 64),
    "attn QK^T 49x49x32": gemm(False, True, 49, 49, 32, 128 * 4),
    "attn PV 49x32x49": gemm(False, False, 49, 32, 49, 128 * 4),
    **conv_rows("conv 1>16 @28", 128, 1, 16, 28, 3),
    **conv_rows("conv 16>16 @28", 128, 16, 16, 28, 3),
    **conv_rows("conv 32>16 @28", 128, 32, 16, 28, 3),
    **conv_rows("conv 16>16 s2 @28", 128, 16, 16, 28, 3, 2),
    **conv_rows("conv 16>32 @14", 128, 16, 32, 14, 3),
    **conv_rows("conv 32>32 @14", 128, 32, 32, 14, 3),
    **conv_rows("conv 64>32 @14", 128, 64, 32, 14, 3),
    **conv_rows("conv 32>64 @7", 128, 32, 64, 7, 3),
    **conv_rows("conv 64>64 @7", 128, 64, 64, 7, 3),
    **conv_rows("conv 128>64 @7", 128, 128, 64, 7, 3),
    **conv_rows("conv1x1 32>16 @28", 128, 32, 16, 28, 1),
    **conv_rows("conv1x1 128>64 @7", 128, 128, 64, 7, 1),
    **conv_rows("conv 16>1 @28", 128, 16, 1, 28, 3),
    **conv_rows("conv 3>16 @512 b1", 1, 3, 16, 512, 3),
    **conv_rows("conv 16>3 @512 b1", 1, 16, 3, 512, 3),
    **norm_rows(128, 16, 28, 8),
    **norm_rows(128, 64, 7, 8),
    "toy step 3x512x512": (toy_step, 0),
    "unet step b128": (unet_step, 3.0 * unet_forward_flops(DDPMUNet(), 128)),
    "unet denoise b64": (unet_denoise, unet_forward_flops(DDPMUNet(), 64)),
    "mnist unet E step b128": (mnist_unet_e_step, 3.0 * unet_forward_flops(ResUNet(), 128)),
}
# Rows whose peak memory is measured too (in a fresh process, as drift_bench does).
MEMORY_ROWS = ["toy step 3x512x512", "unet step b128", "mnist unet E step b128"]


# ---- peak memory (the same method as bench.cpp's measure_memory_here) -----------------------

def proc_status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def measure_memory_here(name):
    """Prepare the row, note VmRSS, reset the high-water mark, run 4 calls, report VmHWM - VmRSS."""
    call = WORKLOADS[name][0]()
    rss_before = proc_status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(4):
        call()
    rss_peak = proc_status_kb("VmHWM")
    return {"name": name, "rss_before_mb": rss_before / 1024.0,
            "peak_rss_increase_mb": (rss_peak - rss_before) / 1024.0}


def measure_memory_in_child(name, threads):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(threads),
                          "--memory-of", name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def conv_implementations():
    """Which convolution kernels PyTorch runs in a U-Net training step (aten op names from the
    profiler: mkldnn_convolution is oneDNN, _slow_conv2d / thnn_conv2d the im2col fallback)."""
    step = unet_step()
    step()
    with torch.autograd.profiler.profile() as prof:
        step()
    names = sorted({e.name for e in prof.function_events if "conv" in e.name})
    return names


# ---- measuring (the same method as bench.cpp) ----------------------------------------------

def measure(call, reps):
    call()  # first call: allocation, page faults, caches
    warm_calls, start = 0, time.perf_counter()
    while True:
        call()
        warm_calls += 1
        if time.perf_counter() - start >= 0.1:
            break
    per_call = (time.perf_counter() - start) / warm_calls
    calls_per_rep = max(1, math.ceil(0.02 / per_call))
    times_ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls_per_rep):
            call()
        times_ms.append((time.perf_counter() - t0) * 1e3 / calls_per_rep)
    times_ms.sort()
    n = len(times_ms)
    median = times_ms[n // 2] if n % 2 else 0.5 * (times_ms[n // 2 - 1] + times_ms[n // 2])
    return median, calls_per_rep


# ---- which BLAS ---------------------------------------------------------------------------

def loaded_blas_libraries():
    """Shared libraries with 'blas' in their name mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and "blas" in os.path.basename(parts[5]).lower():
                libs.add(os.path.realpath(parts[5]))
    return sorted(libs)


def openblas_handle():
    for lib in loaded_blas_libraries():
        try:
            handle = ctypes.CDLL(lib)
            handle.openblas_get_corename.restype = ctypes.c_char_p
            return handle
        except (OSError, AttributeError):
            continue
    return None


def describe_blas(threads):
    """A one-line description of the BLAS behind torch.mm; sets OpenBLAS's thread count."""
    handle = openblas_handle()
    if handle is None:
        return None, loaded_blas_libraries()
    handle.openblas_get_config.restype = ctypes.c_char_p
    # Debian's torch does not know it runs on OpenBLAS (BLAS_INFO=generic), so
    # torch.set_num_threads() does not reach OpenBLAS's own thread pool: set it here.
    handle.openblas_set_num_threads(ctypes.c_int(threads))
    handle.openblas_get_num_threads.restype = ctypes.c_int
    core = handle.openblas_get_corename().decode()
    config = handle.openblas_get_config().decode().strip()
    forced = os.environ.get("OPENBLAS_CORETYPE")
    text = f"{config}, core {core}"
    if forced:
        text += f" (forced by OPENBLAS_CORETYPE={forced})"
    text += f", {handle.openblas_get_num_threads()} threads"
    return text, loaded_blas_libraries()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ---- main ---------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description="PyTorch timings of the drift_bench workloads")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for PyTorch and its BLAS (default: all cores)")
    parser.add_argument("--reps", type=int, default=9,
                        help="timed repetitions per row; the median is reported (default 9)")
    parser.add_argument("--only", default="",
                        help="only rows whose name contains PATTERN (comma: several)")
    parser.add_argument("--out", default="torch_reference.json", help="JSON file to write")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory measurements of the training-step rows")
    parser.add_argument("--memory-of", default="",
                        help="(internal) measure one row's peak memory in this process")
    args = parser.parse_args()
    if args.threads < 1 or args.reps < 1:
        parser.error("--threads and --reps must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    blas, libraries = describe_blas(args.threads)
    if args.memory_of:
        print(json.dumps(measure_memory_here(args.memory_of)))
        return
    print(torch.__config__.show().strip())
    if blas is None:
        print("WARNING: PyTorch is not using OpenBLAS (BLAS libraries loaded: "
              f"{', '.join(libraries) or 'none'}). It is probably the slow reference BLAS; "
              "install libopenblas0-pthread (scripts/install-deps.sh bench) for a fair "
              "comparison.", file=sys.stderr)
        blas = "not OpenBLAS: " + (", ".join(libraries) or "unknown")
    print(f"\ntorch_reference: {cpu_model()}, {os.cpu_count()} logical CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"BLAS: {blas}")
    # Convolutions: Debian's torch 1.13 is built with oneDNN (MKL-DNN), which aten uses for
    # float32 convolutions with batch > 1 or large inputs; say what it really runs.
    mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    print(f"oneDNN (mkldnn) available and enabled: {mkldnn}")
    for label, model in (("DDPM U-Net", DDPMUNet()), ("chapter-4 (E) ResUNet", ResUNet())):
        print(f"{label}: {sum(p.numel() for p in model.parameters())} parameters, "
              f"{3.0 * unet_forward_flops(model, 128) / 1e9:.1f} GFLOP per training step at "
              "batch 128")
    convs = conv_implementations()
    print(f"convolution ops in a U-Net training step: {', '.join(convs)}\n")

    patterns = [p for p in args.only.split(",") if p]
    rows = []
    print(f"{'workload':<24} {'torch ms':>10} {'GFLOP/s':>9}")
    for name, (prepare, flops) in WORKLOADS.items():
        if patterns and not any(p in name for p in patterns):
            continue
        median_ms, calls_per_rep = measure(prepare(), args.reps)
        gflops = flops / (median_ms * 1e-3) / 1e9 if flops else 0.0
        print(f"{name:<24} {median_ms:>10.3f} {gflops:>9.1f}", flush=True)
        row = {"name": name, "median_ms": median_ms, "calls_per_rep": calls_per_rep}
        if flops:
            row["gflops"] = gflops
        if name in MEMORY_ROWS and not args.no_memory:
            memory = measure_memory_in_child(name, args.threads)
            row["peak_rss_increase_mb"] = memory["peak_rss_increase_mb"]
            print(f"{'':<24} peak memory of a call: +{memory['peak_rss_increase_mb']:.1f} MB RSS "
                  f"(over {memory['rss_before_mb']:.1f} MB before)", flush=True)
        rows.append(row)

    result = {"torch": torch.__version__, "blas": blas, "threads": args.threads,
              "reps": args.reps, "machine": cpu_model(), "mkldnn": mkldnn,
              "conv_ops": convs, "rows": rows}
    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
