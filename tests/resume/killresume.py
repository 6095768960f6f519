#!/usr/bin/env python3
"""Kill-and-resume check for one wsss command (docs/robustness.md, "Kill and resume").

  killresume.py --name NAME --kind stage|train|whole --work DIR [--points 5] [--seed 1]
                [--full-disk] -- COMMAND... OUT ...

COMMAND is the command line with the literal word OUT where its output
directory goes. The check:

 1. runs COMMAND once into DIR/ref, uninterrupted, and times it (T);
 2. runs it into DIR/out and sends SIGKILL after a delay drawn (seeded) from
    [0, T); then resumes as a user would and kills again, until at least
    --points kills have landed while the process ran; a run that finishes
    before its kill ends the chain, which is checked and started afresh;
    the last run of the last chain is never killed;
      stage: reruns add --skip-existing;
      train: reruns add --resume when checkpoint.state exists (else plain),
             and a finished model (model.safetensors) ends the chain;
      whole: reruns add --overwrite (a command that redoes everything);
 3. after every completed chain requires: exit 0, the same files as the
    uninterrupted run, byte for byte (meta*.json aside: times and argv), no
    temporaries (.NAME.tmpPID-N.EXT), no .journal*.jsonl, no failed*.txt.

--full-disk instead runs COMMAND once under a file size limit of 4 KiB
(ulimit -f 4) and requires exit 1, one error line naming the file and the
limit, and no temporaries or finished-looking outputs left (no manifest, no
model). Prints one line per kill and a summary; exit 1 on any failure.
"""
import argparse
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

TEMP_RE = re.compile(r"^\..+\.tmp\d+-\d+")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def tree(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            files[os.path.relpath(path, root)] = path
    return files


def debris(root):
    bad = []
    for rel in tree(root):
        base = os.path.basename(rel)
        if TEMP_RE.match(base) or base.startswith(".journal") or re.match(r"^failed.*\.txt$", base):
            bad.append(rel)
    return sorted(bad)


def compare(ref, out):
    a = {k: v for k, v in tree(ref).items() if not re.match(r"^meta.*\.json$", os.path.basename(k))}
    b = {k: v for k, v in tree(out).items() if not re.match(r"^meta.*\.json$", os.path.basename(k))}
    if sorted(a) != sorted(b):
        return f"file lists differ: only in the uninterrupted run {sorted(set(a) - set(b))}, " \
               f"only in the resumed one {sorted(set(b) - set(a))}"
    for rel in sorted(a):
        with open(a[rel], "rb") as fa, open(b[rel], "rb") as fb:
            da, db = fa.read(), fb.read()
        if os.path.basename(rel) == "train_log.jsonl":
            # A trainer's log: every entry the same but its wall-clock seconds.
            da, db = (re.sub(rb'"seconds":[-0-9.e]+', b'"seconds":_', d) for d in (da, db))
        if da != db:
            return f"{rel} differs from the uninterrupted run's"
    return None


def progress_note(out):
    """What a kill left: journal lines, files, temporaries (for the log)."""
    if not os.path.isdir(out):
        return "no OUT_DIR yet"
    files = tree(out)
    journal = [p for r, p in files.items() if os.path.basename(r).startswith(".journal")]
    lines = 0
    for j in journal:
        with open(j, "rb") as f:
            lines += f.read().count(b"\n")
    temps = sum(1 for r in files if TEMP_RE.match(os.path.basename(r)))
    state = ""
    if os.path.exists(os.path.join(out, "checkpoint.state")):
        state = ", checkpoint.state"
    return f"{len(files)} files, journal {lines} lines, {temps} temporaries{state}"


def command_for(template, out):
    return [out if a == "OUT" else a.replace("OUT/", out + "/") for a in template]


def run(cmd, log, timeout=None):
    with open(log, "wb") as err:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout).returncode


def finished(kind, out):
    if kind == "train":
        return os.path.exists(os.path.join(out, "model.safetensors"))
    return False


def rerun_args(kind, out, first):
    if first:
        return []
    if kind == "stage":
        return ["--skip-existing"]
    if kind == "whole":
        return ["--overwrite"]
    return ["--resume"] if os.path.exists(os.path.join(out, "checkpoint.state")) else []


def with_flags(cmd, flags):
    # Options go right after the program (and its subcommand, if any).
    if not flags:
        return cmd
    at = 2 if len(cmd) > 1 and not cmd[1].startswith("-") and cmd[1] in SUBCOMMANDS else 1
    return cmd[:at] + flags + cmd[at:]


SUBCOMMANDS = {"crf", "irn", "irn-train", "train", "predict", "synth", "voc", "coco", "folder", "labels",
               "prompts", "boxes", "recam", "cluster"}


def full_disk(args, template):
    out = os.path.join(args.work, "full")
    shutil.rmtree(out, ignore_errors=True)
    log = os.path.join(args.work, "full.err")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    with open(log, "wb") as err:
        code = subprocess.run(command_for(template, out), stdout=subprocess.DEVNULL, stderr=err,
                              preexec_fn=limit).returncode
    text = open(log, encoding="utf-8", errors="replace").read()
    if code != 1:
        print(text, file=sys.stderr)
        fail(f"{args.name}: under ulimit -f 4 the exit status is {code}, not 1")
    errors = [line for line in text.splitlines() if ": error: " in line]
    if not errors or not re.search(r"File too large|file size limit", errors[-1]):
        print(text, file=sys.stderr)
        fail(f"{args.name}: no error line about the file size limit")
    if not re.search(re.escape(out), errors[-1]):
        print(text, file=sys.stderr)
        fail(f"{args.name}: the error line does not name the file: {errors[-1]}")
    left = [r for r in tree(out) if TEMP_RE.match(os.path.basename(r))] if os.path.isdir(out) else []
    done = [r for r in (tree(out) if os.path.isdir(out) else {})
            if re.match(r"^(manifest.*\.jsonl|model\.safetensors)$", os.path.basename(r))]
    if left or done:
        fail(f"{args.name}: a full disk left temporaries {left} or finished-looking outputs {done}")
    print(f"{args.name}: full disk (ulimit -f 4): exit 1, {errors[-1].strip()}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--kind", choices=["stage", "train", "whole"], required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--points", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--full-disk", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    template = args.command[1:] if args.command[:1] == ["--"] else args.command
    if "OUT" not in template and not any(a.startswith("OUT/") for a in template):
        fail("the command needs the word OUT where its output goes")
    os.makedirs(args.work, exist_ok=True)
    if args.full_disk:
        full_disk(args, template)
        return

    ref = os.path.join(args.work, "ref")
    shutil.rmtree(ref, ignore_errors=True)
    t0 = time.monotonic()
    code = run(command_for(template, ref), os.path.join(args.work, "ref.err"))
    total = time.monotonic() - t0
    if code != 0:
        print(open(os.path.join(args.work, "ref.err"), errors="replace").read(), file=sys.stderr)
        fail(f"{args.name}: the uninterrupted run exited {code}")

    rng = random.Random(args.seed)
    out = os.path.join(args.work, "out")
    kills, chains, runs = [], 0, 0
    max_runs = 6 * args.points + 6
    shutil.rmtree(out, ignore_errors=True)
    first = True
    while True:
        if runs >= max_runs:
            fail(f"{args.name}: only {len(kills)} of {args.points} kills landed in {runs} runs "
                 f"(uninterrupted run {total:.2f}s)")
        want_kill = len(kills) < args.points
        cmd = with_flags(command_for(template, out), rerun_args(args.kind, out, first))
        log = os.path.join(args.work, f"run{runs}.err")
        runs += 1
        delay = rng.uniform(0.0, total) if want_kill else None
        with open(log, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            try:
                code = proc.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
        first = False
        if killed:
            kills.append(delay)
            print(f"{args.name}: kill {len(kills)} at {delay:.3f}s: {progress_note(out)}")
            if finished(args.kind, out):
                code = 0  # killed while exiting: the run is complete
            else:
                continue
        if code != 0:
            print(open(log, errors="replace").read(), file=sys.stderr)
            fail(f"{args.name}: run {runs} ({' '.join(cmd)}) exited {code}")
        chains += 1
        problem = compare(ref, out)
        if problem:
            fail(f"{args.name}: after {len(kills)} kills: {problem}")
        left = debris(out)
        if left:
            fail(f"{args.name}: the resumed run left {left}")
        if len(kills) >= args.points:
            break
        shutil.rmtree(out)  # the chain is done before enough kills: start another
        first = True
    print(f"{args.name}: {len(kills)} kills (seed {args.seed}) at "
          f"{', '.join(f'{k:.2f}' for k in kills)} s of an uninterrupted {total:.2f} s; {runs} runs in "
          f"{chains} chain(s); outputs byte-identical, no temporaries left")


if __name__ == "__main__":
    main()
