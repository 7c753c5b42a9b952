"""Where a profiled run of the mesh spent its CPU, from `perf script` output.

Reads the text `perf script -F comm,tid,ip,sym` prints for a `perf record -g` of one
`baton-bench` child and prints, for each part of the stack below, the share of samples with
at least one frame of that part (a sample can count towards several: a redb commit's fsync is
both "redb" and "kernel: fsync"; layers that only wrap a handler's future, such as the metrics
and tracing middleware, are matched by the code doing their own work, not by the wrapper), and the share of samples whose innermost frame is in each
crate. `make profile` runs it.
"""

import collections
import re
import sys

# What each part is, as frames name it.
PARTS = [
    ("redb: commits (their fsync included)", r"redb::transactions::WriteTransaction::commit"),
    ("redb: everything", r"^redb::|<redb::"),
    ("kernel: fsync", r"fdatasync|do_fsync"),
    ("HTTP/2 framing (h2)", r"^<?h2::"),
    ("gRPC framing and codecs (tonic)", r"^<?tonic::codec|tonic::codec::"),
    ("kernel: loopback TCP", r"tcp_sendmsg|tcp_v4_rcv|tcp_recvmsg|__tcp_transmit_skb"),
    ("protobuf (prost)", r"^<?prost::|prost::encoding"),
    ("checking callers (JWT verification, policy)", r"baton_auth::layer::Shared::admit"),
    ("traces, logs and metrics (tracing, OpenTelemetry SDK)", r"^<?(tracing_subscriber|tracing_core|tracing_opentelemetry|opentelemetry)"),
    ("allocator (mimalloc)", r"^_?mi_|mi_malloc|mi_free"),
    ("copying (memmove, memcpy)", r"memmove|memcpy"),
    ("thread wake-ups and sleeps (futex)", r"futex"),
    ("the load generator (baton_bench)", r"baton_bench::"),
]


def samples(path):
    """Each sample's frames, innermost first."""
    frames = None
    with open(path, errors="replace") as text:
        for line in text:
            if not line.strip():
                if frames:
                    yield frames
                frames = None
            elif not line[0].isspace():
                frames = []
            elif frames is not None:
                parts = line.strip().split(" ", 1)
                frames.append(parts[1] if len(parts) > 1 else "?")
    if frames:
        yield frames


def crate(frame):
    named = re.match(r"^<?(?:&(?:mut )?)?([a-z_][a-z0-9_]*)::", frame)
    return named.group(1) if named else "(kernel, libc, allocator)"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: breakdown.py PERF_SCRIPT_OUTPUT")
    parts = [(label, re.compile(pattern)) for label, pattern in PARTS]
    counted = collections.Counter()
    innermost = collections.Counter()
    total = 0
    for frames in samples(sys.argv[1]):
        total += 1
        innermost[crate(frames[0])] += 1
        for label, pattern in parts:
            if any(pattern.search(f) for f in frames):
                counted[label] += 1
    if total == 0:
        sys.exit("no samples: was the run recorded with perf record -g?")
    print(f"{total} samples\n")
    print("| part of the stack | share of samples |")
    print("|---|---|")
    for label, _ in parts:
        print(f"| {label} | {100 * counted[label] / total:.1f}% |")
    print("\n| innermost frame in | share of samples |")
    print("|---|---|")
    for name, n in innermost.most_common(12):
        print(f"| {name} | {100 * n / total:.1f}% |")


if __name__ == "__main__":
    main()
