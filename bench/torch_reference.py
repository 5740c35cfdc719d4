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
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("torch_reference.py: PyTorch not found. Run it with Debian's /usr/bin/python3 "
             "(apt-get install python3-torch), or: scripts/install-deps.sh bench")


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
}


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
    args = parser.parse_args()
    if args.threads < 1 or args.reps < 1:
        parser.error("--threads and --reps must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    blas, libraries = describe_blas(args.threads)
    print(torch.__config__.show().strip())
    if blas is None:
        print("WARNING: PyTorch is not using OpenBLAS (BLAS libraries loaded: "
              f"{', '.join(libraries) or 'none'}). It is probably the slow reference BLAS; "
              "install libopenblas0-pthread (scripts/install-deps.sh bench) for a fair "
              "comparison.", file=sys.stderr)
        blas = "not OpenBLAS: " + (", ".join(libraries) or "unknown")
    print(f"\ntorch_reference: {cpu_model()}, {os.cpu_count()} logical CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"BLAS: {blas}\n")

    patterns = [p for p in args.only.split(",") if p]
    rows = []
    print(f"{'workload':<20} {'torch ms':>10} {'GFLOP/s':>9}")
    for name, (prepare, flops) in WORKLOADS.items():
        if patterns and not any(p in name for p in patterns):
            continue
        median_ms, calls_per_rep = measure(prepare(), args.reps)
        gflops = flops / (median_ms * 1e-3) / 1e9 if flops else 0.0
        print(f"{name:<20} {median_ms:>10.3f} {gflops:>9.1f}", flush=True)
        row = {"name": name, "median_ms": median_ms, "calls_per_rep": calls_per_rep}
        if flops:
            row["gflops"] = gflops
        rows.append(row)

    result = {"torch": torch.__version__, "blas": blas, "threads": args.threads,
              "reps": args.reps, "machine": cpu_model(), "rows": rows}
    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
