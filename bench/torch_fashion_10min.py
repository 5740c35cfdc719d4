#!/usr/bin/python3
"""torch_fashion_10min.py — the tutorial's chapter-4 recipe in PyTorch, for a fixed wall-clock
budget: what drift's 10-minute Fashion-MNIST run is compared against.

    /usr/bin/python3 bench/torch_fashion_10min.py --minutes 10 --out build/torch_fashion
    build/chapters/04_mnist --dataset fashion-mnist --score build/torch_fashion/samples.safetensors \\
        --out build/torch_fashion/scored

The recipe is the tutorial's, unchanged: model (E) (bench/torch_reference.py's ResUNet, the
tutorial's code, GroupNorm(16)), batch 128, Adam lr 1e-3, T = 1000, linear betas 1e-4 -> 0.02,
the DDPM loss ||eps - eps_theta(x_t, t)||^2, no EMA, no warm-up. It trains until --minutes
have passed, then draws --samples samples with DDIM (eta = 0, 50 evenly strided steps, the
same timesteps and update as diffusion/samplers/ddim.cpp) and writes them as one safetensors
tensor "samples" [N, 1, 28, 28] in drift's layout, so drift's own FID code scores both runs.

Threads: torch.set_num_threads(--threads) and OpenBLAS's own pool (bench/torch_reference.py);
OPENBLAS_CORETYPE must be unset, or OpenBLAS runs slower kernels than the machine has.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference  # noqa: E402  (the tutorial's model (E), the BLAS set-up)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_fashion_mnist(flag_dir):
    """The folder holding train-images-idx3-ubyte.gz, searched as drift's DataSearch does."""
    bases = [flag_dir, os.environ.get("DRIFT_DATA"), os.path.join(ROOT, "data"),
             os.path.join(ROOT, "..", "shared", "data"), "/usr/share/datasets",
             "/usr/local/share/datasets"]
    tried = []
    for base in [b for b in bases if b]:
        for folder in (os.path.join(base, "fashion-mnist"), base):
            tried.append(folder)
            if os.path.exists(os.path.join(folder, "train-images-idx3-ubyte.gz")):
                return folder
    sys.exit("torch_fashion_10min.py: Fashion-MNIST not found; tried:\n  " + "\n  ".join(tried) +
             "\nget it with: apt-get install dataset-fashion-mnist (or point --data at it)")


def load_images(path):
    """An IDX3 file of uint8 pictures -> float32 [N, 1, 28, 28] in [-1, 1]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051 or len(data) != 16 + n * rows * cols:
        sys.exit(f"torch_fashion_10min.py: {path} is not an IDX3 image file")
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.view(n, 1, rows, cols).float() / 127.5 - 1.0


def write_safetensors(path, name, tensor, metadata):
    """One float32 tensor in the safetensors layout: 8-byte little-endian header length, the
    JSON header (padded with spaces to a multiple of 8), then the raw little-endian data."""
    data = tensor.contiguous().numpy().astype("<f4").tobytes()
    header = {name: {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [0, len(data)]},
              "__metadata__": metadata}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    os.replace(tmp, path)


def ddim_sample(model, alpha_bar, count, steps, generator):
    """DDIM with eta = 0 (Song et al. 2021, eq. 12) at tau_i = floor(i T / S), newest first."""
    T = len(alpha_bar)
    taus = [i * T // steps for i in range(steps - 1, -1, -1)]
    x = torch.randn(count, 1, 28, 28, generator=generator)
    for i, t in enumerate(taus):
        ab_t = alpha_bar[t]
        ab_prev = alpha_bar[taus[i + 1]] if i + 1 < len(taus) else 1.0
        eps = model(x, torch.full((count,), float(t)))
        x0 = (x - math.sqrt(1.0 - ab_t) * eps) / math.sqrt(ab_t)
        x = math.sqrt(ab_prev) * x0 + math.sqrt(1.0 - ab_prev) * eps
    return x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=1000, help="samples drawn for the FID")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="the Fashion-MNIST folder (default: search)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "torch_fashion"))
    args = parser.parse_args()

    if os.environ.get("OPENBLAS_CORETYPE"):
        sys.exit("torch_fashion_10min.py: unset OPENBLAS_CORETYPE first (it forces slower kernels)")
    torch.set_num_threads(args.threads)
    blas, _ = torch_reference.describe_blas(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    folder = find_fashion_mnist(args.data)
    images = load_images(os.path.join(folder, "train-images-idx3-ubyte.gz"))
    print(f"PyTorch {torch.__version__}, {args.threads} threads, BLAS: {blas or 'not OpenBLAS'}")
    print(f"data: {images.shape[0]} pictures from {folder}")

    # The tutorial's chapter-4 recipe.
    model = torch_reference.ResUNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    T, batch = 1000, 128
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bar = torch.cumprod(1.0 - betas, 0)
    sqrt_ab, sqrt_1m_ab = alpha_bar.sqrt().float(), (1.0 - alpha_bar).sqrt().float()

    print(f"training for {args.minutes:g} minutes (model E, "
          f"{sum(p.numel() for p in model.parameters())} parameters, batch {batch}, Adam 1e-3)")
    start, step, epoch, losses = time.monotonic(), 0, 0, []
    budget = args.minutes * 60.0
    while time.monotonic() - start < budget:
        order = torch.randperm(images.shape[0])
        for k in range(0, images.shape[0] - batch + 1, batch):  # drop the last partial batch
            if time.monotonic() - start >= budget:
                break
            x0 = images[order[k:k + batch]]
            t = torch.randint(0, T, (batch,))
            noise = torch.randn_like(x0)
            x_t = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1m_ab[t].view(-1, 1, 1, 1) * noise
            loss = F.mse_loss(model(x_t, t.float()), noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(loss.item())
            if step % 50 == 0:
                elapsed = time.monotonic() - start
                print(f"step {step:6d}  epoch {epoch}  loss {sum(losses[-50:]) / 50:.4f}  "
                      f"{step / elapsed:.2f} it/s  elapsed {elapsed:.0f} s", flush=True)
        epoch += 1
    trained = time.monotonic() - start
    print(f"trained {step} steps ({step * batch / images.shape[0]:.2f} epochs) in {trained:.0f} s")

    model.eval()
    generator = torch.Generator().manual_seed(args.seed + 1)
    start = time.monotonic()
    with torch.no_grad():
        parts = [ddim_sample(model, alpha_bar.tolist(), min(250, args.samples - done),
                             args.ddim_steps, generator)
                 for done in range(0, args.samples, 250)]
    samples = torch.cat(parts)
    print(f"sampled {args.samples} (DDIM, {args.ddim_steps} steps) in "
          f"{time.monotonic() - start:.0f} s")
    path = os.path.join(args.out, "samples.safetensors")
    write_safetensors(path, "samples", samples, {
        "recipe": "tutorial chapter 4 (E), PyTorch", "minutes": f"{args.minutes:g}",
        "steps": str(step), "final_loss": f"{sum(losses[-50:]) / max(1, len(losses[-50:])):.4f}"})
    print(f"  -> {path}")


if __name__ == "__main__":
    main()
