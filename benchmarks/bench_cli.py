"""The command line's two jobs end to end, with and without the progress bar, side by side.

Run: ``.venv/bin/python benchmarks/bench_cli.py [--annotate-rows 200000] [--embed-rows 20000]
[--jobs annotate,embed] [--rounds 2] [--baseline FOLDER]``

Writes JSON lines inputs of UD English-EWT dev sentences (one per row, cycled) to a temporary
folder, then runs, each in a fresh process as a user would (``local[*,4]``, the defaults):

* ``sparktext annotate`` on ``--annotate-rows`` rows;
* ``sparktext embed`` (all-MiniLM-L6-v2, the packaged model, default engine) on
  ``--embed-rows`` rows;

each with ``--no-progress`` and with the bar (whose total costs one extra pass over the input),
alternating, ``--rounds`` times. ``--baseline`` names a checkout of an older sparktext (``git
worktree add /tmp/old <commit>``): its command line runs the same inputs with ``--no-progress``
in each round, beside ours, so a figure from an older issue can be compared in one run. The
first run of all pays the cold start (disk caches, the model's first export) and is marked.
The table gives the job's own time and tokens/s as the summary line prints them,
the whole command's wall time, and the peak resident memory of the whole process tree (the
driver JVM, the Python workers, this command), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

SUMMARY = re.compile(r"in ([\d.]+) s \(([\d,]+) tokens/s\)")


def write_input(path: str, rows: int) -> None:
    import ewt

    sentences = [d.text[b : e + 1] for d in ewt.load_documents() for b, e in d.sentences]
    random.Random(0).shuffle(sentences)
    with open(path, "w") as out:
        for i in range(rows):
            out.write(json.dumps({"id": i, "text": sentences[i % len(sentences)]}) + "\n")


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run(command: list[str], pythonpath: str | None = None) -> dict:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    if pythonpath:  # ahead of the installed sparktext, for the driver and its Python workers
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{err[-3000:]}")
    if pythonpath and f"sparktext from {pythonpath}" not in err:
        raise SystemExit(f"{' '.join(command)} did not import sparktext from {pythonpath}:\n{err[:2000]}")
    seconds, rate = SUMMARY.search(out).groups()
    return {"job_s": float(seconds), "tokens_per_s": int(rate.replace(",", "")), "wall_s": wall,
            "peak_gb": peak[0] / 1e9, "bar_frames": err.count("rows/s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotate-rows", type=int, default=200_000)
    parser.add_argument("--embed-rows", type=int, default=20_000)
    parser.add_argument("--jobs", default="annotate,embed", help="which jobs to time, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="times each variant runs, alternating")
    parser.add_argument("--baseline", help="a checkout of an older sparktext whose CLI runs beside ours")
    args = parser.parse_args()
    ours = [os.path.join(os.path.dirname(sys.executable), "sparktext")]
    variants = [("ours", ours, [], None), ("ours", ours, ["--no-progress"], None)]
    if args.baseline:
        old_python = os.path.join(os.path.abspath(args.baseline), "python")
        older = [sys.executable, "-c", "import sys, sparktext.cli as cli; print('sparktext from', cli.__file__, "
                 "file=sys.stderr); sys.exit(cli.main())"]
        variants.append(("baseline", older, ["--no-progress"], old_python))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        jobs = [("annotate", args.annotate_rows, []), ("embed", args.embed_rows, ["--model", "all_minilm_l6_v2"])]
        for command, rows, extra in [job for job in jobs if job[0] in args.jobs.split(",")]:
            source = os.path.join(folder, f"{command}.jsonl")
            write_input(source, rows)
            for round_number in range(args.rounds):
                for code, prefix, progress, pythonpath in variants:
                    output = os.path.join(folder, f"out-{len(results)}")
                    measured = run(prefix + [command, source, output, *extra, *progress], pythonpath)
                    results.append({"job": f"{command} {rows:,} rows", "code": code, "round": round_number + 1,
                                    "bar": "no" if progress else "yes", "cold": not results, **measured})
                    print(json.dumps(results[-1]), file=sys.stderr)
    print(f"{'job':<24} {'code':>8} {'bar':>4} {'round':>5} {'job s':>7} {'tokens/s':>10} {'wall s':>7} {'peak GB':>8}")
    for r in results:
        print(f"{r['job']:<24} {r['code']:>8} {r['bar']:>4} {r['round']:>5}{'*' if r['cold'] else ' '}"
              f"{r['job_s']:>7.1f} {r['tokens_per_s']:>10,} {r['wall_s']:>7.1f} {r['peak_gb']:>8.2f}")
    print("* the cold start: first run of all")
    print("\nmedians over the rounds (cold run left out where another round exists):")
    for job in dict.fromkeys(r["job"] for r in results):
        for code, _, progress, _ in variants:
            bar = "no" if progress else "yes"
            runs = [r for r in results if r["job"] == job and r["code"] == code and r["bar"] == bar]
            warm = [r for r in runs if not r["cold"]] or runs
            print(f"  {job:<24} {code:>8} bar {bar:>3}: {statistics.median(r['job_s'] for r in warm):6.1f} s job, "
                  f"{statistics.median(r['tokens_per_s'] for r in warm):>9,.0f} tokens/s, "
                  f"{statistics.median(r['wall_s'] for r in warm):6.1f} s wall, "
                  f"peak {max(r['peak_gb'] for r in warm):.2f} GB")


if __name__ == "__main__":
    main()
