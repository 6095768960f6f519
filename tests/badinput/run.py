#!/usr/bin/env python3
"""The bad-input corpus (docs/robustness.md, "Bad-input corpus").

Runs every case of cases.txt against the built binaries and prints
`N passed, N failed`. Each case makes its input in a fresh directory (small
files from files/ and the `gen` steps below, Python standard library only),
runs one command and checks:

- the exit code (a signal, i.e. a crash, always fails the case);
- every `expect` line: all its words in ONE stderr line, which must also name
  one of the case's files (or an option, for usage errors);
- no stderr line longer than 1000 bytes, nothing that looks like a crash or a
  sanitizer report, no "terminate called" / bare C++ exception text;
- with `out DIR`: no temporary file (*.tmp*), no lock file left in DIR, and
  after a failure no output manifest there.

Usage: run.py [--bin DIR] [-k SUBSTRING] [-j N] [-v] [--list]
(WSSS_BIN gives the binaries' folder too; the default is ../../build/bin.)
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")
MIN_CASES = 60
MAX_LINE = 1000
CRASH_WORDS = ["terminate called", "what():", "Segmentation fault", "Aborted", "core dumped",
               "AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "LeakSanitizer",
               "std::bad_alloc", "basic_string", "vector::", "stoll", "stoi", "_M_"]


class CaseError(Exception):
    pass


# ---------------------------------------------------------------- generators
# Small writers for the formats the toolkit reads, so that each bad file is a
# visible edit of a good one.

def png_bytes(width, height, kind="palette", fill=0, fill2=None, depth=None, ihdr_only=False):
    """An 8-bit PNG (palette, grey, rgb, rgba) or a 16-bit grey one; pixels are
    `fill`, the right half `fill2` when given."""
    kinds = {"grey": (0, 1), "rgb": (2, 3), "palette": (3, 1), "greya": (4, 2), "rgba": (6, 4)}
    ctype, channels = kinds[kind]
    depth = depth or 8

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))
    if ihdr_only:
        return out
    if ctype == 3:
        out += chunk(b"PLTE", bytes(v for i in range(256) for v in (i, 255 - i, (i * 7) % 256)))
    rows = b""
    for _ in range(height):
        row = b"\x00"
        for x in range(width):
            v = fill if fill2 is None or x < width // 2 else fill2
            sample = v.to_bytes(2, "big") if depth == 16 else bytes([v % 256])
            row += sample * channels
        rows += row
    return out + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def npy_bytes(descr="<f4", shape="(1, 6, 8)", fortran="False", fill=0.5, data_bytes=None, version=1,
              header=None, magic=b"\x93NUMPY"):
    if header is None:
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    header = header + " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    head = magic + bytes([version, 0])
    head += struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    if data_bytes is None:
        dims = [int(d) for d in shape.strip("()").split(",") if d.strip()]
        count = 1
        for d in dims:
            count *= d
        code = {"<f4": "<f", "<f2": "<e", "<f8": "<d", ">f4": ">f"}.get(descr, "<f")
        data = struct.pack("%s%d%s" % (code[0], count, code[1]), *([fill] * count))
    else:
        data = b"\x00" * data_bytes
    return head + header.encode() + data


def safetensors_bytes(header, data=b"", header_len=None):
    text = json.dumps(header).encode() if not isinstance(header, (bytes, str)) else (
        header.encode() if isinstance(header, str) else header)
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def exif_jpeg(src, orientation):
    """src with an APP1 Exif segment holding one IFD entry: Orientation."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1,
                                                                                    orientation, 0)
    tiff += struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return src[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + src[2:]


def gen(step, cwd, subst):
    args = [subst(a) for a in shlex.split(step)]
    op, a = args[0], args[1:]
    p = lambda name: os.path.join(cwd, name)  # noqa: E731
    opts = {}
    pos = []
    for x in a:
        if re.match(r"^[a-z_0-9]+=", x):
            k, v = x.split("=", 1)
            opts[k] = v
        else:
            pos.append(x)

    def write(name, data):
        os.makedirs(os.path.dirname(p(name)) or ".", exist_ok=True)
        with open(p(name), "wb") as f:
            f.write(data)

    if op == "png":  # png NAME WxH [kind=palette] [fill=0] [fill2=] [depth=8] [ihdr_only=1]
        w, h = (int(v) for v in pos[1].split("x"))
        write(pos[0], png_bytes(w, h, opts.get("kind", "palette"), int(opts.get("fill", 0)),
                                int(opts["fill2"]) if "fill2" in opts else None, int(opts.get("depth", 8)),
                                opts.get("ihdr_only") == "1"))
    elif op == "npy":  # npy NAME [descr=] [shape=] [fortran=] [fill=] [data_bytes=] [version=] [header=] [magic=]
        kw = {}
        for k in ("descr", "shape", "fortran", "header"):
            if k in opts:
                kw[k] = opts[k]
        if "fill" in opts:
            kw["fill"] = float(opts["fill"])
        if "data_bytes" in opts:
            kw["data_bytes"] = int(opts["data_bytes"])
        if "version" in opts:
            kw["version"] = int(opts["version"])
        if "magic" in opts:
            kw["magic"] = opts["magic"].encode()
        write(pos[0], npy_bytes(**kw))
    elif op == "safetensors":  # safetensors NAME HEADER_JSON [data=N zero bytes] [header_len=]
        header = pos[1]
        write(pos[0], safetensors_bytes(header, b"\x00" * int(opts.get("data", 0)),
                                        int(opts["header_len"]) if "header_len" in opts else None))
    elif op == "truncate":  # truncate FILE N (N < 0: drop the last -N bytes)
        with open(p(pos[0]), "rb") as f:
            data = f.read()
        n = int(pos[1])
        write(pos[0], data[:n] if n >= 0 else data[:len(data) + n])
    elif op == "poke":  # poke FILE OFFSET BYTE: overwrite one byte (OFFSET < 0 from the end)
        with open(p(pos[0]), "rb") as f:
            data = bytearray(f.read())
        data[int(pos[1])] = int(pos[2], 0)
        write(pos[0], bytes(data))
    elif op == "bytes":  # bytes NAME PYTHON-ESCAPED-TEXT
        write(pos[0], pos[1].encode("latin-1").decode("unicode_escape").encode("latin-1"))
    elif op == "crlf":
        with open(p(pos[0]), "rb") as f:
            data = f.read()
        write(pos[0], data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    elif op == "bom":
        with open(p(pos[0]), "rb") as f:
            data = f.read()
        write(pos[0], b"\xef\xbb\xbf" + data)
    elif op == "longid":  # longid MANIFEST BYTES [image=a.png]: one record whose id is BYTES long
        rec = {"id": "x" * int(pos[1]), "image": opts.get("image", "a.png"), "labels": [1]}
        for k, v in opts.items():
            if k not in ("image",):
                rec[k] = json.loads(v)
        write(pos[0], (json.dumps(rec) + "\n").encode())
    elif op == "mkdir":
        os.makedirs(p(pos[0]), exist_ok=True)
    elif op == "fifo":
        os.mkfifo(p(pos[0]))
    elif op == "holder":  # holder FILE PID: a lock file naming PID, as a run writes it
        write(pos[0], (json.dumps({"pid": int(pos[1]), "host": os.uname().nodename, "program": "wsss-old",
                                   "started": "2020-01-01T00:00:00Z"}) + "\n").encode())
    elif op == "exif":  # exif SRC DST ORIENTATION
        with open(p(pos[0]), "rb") as f:
            data = f.read()
        write(pos[1], exif_jpeg(data, int(pos[2])))
    elif op == "classes":  # classes FILE N: a vocabulary of N names (background + N-1)
        n = int(pos[1])
        names = ["background"] + ["c%d" % i for i in range(1, n)]
        doc = {"format": "wsss-classes", "version": 1, "name": "many", "classes": names, "ignore": 255}
        write(pos[0], json.dumps(doc).encode())
    elif op == "edit":  # edit FILE PYTHON: j = json of FILE; exec PYTHON; write j back
        with open(p(pos[0])) as f:
            j = json.load(f)
        exec(pos[1], {"j": j})
        write(pos[0], json.dumps(j).encode())
    else:
        raise CaseError("unknown gen step '%s'" % op)


def after(step, cwd, subst):
    args = [subst(a) for a in shlex.split(step)]
    op, a = args[0], args[1:]
    path = os.path.join(cwd, a[0])
    if op == "sorted":  # the manifest's ids are in byte order
        with open(path, "rb") as f:
            ids = [json.loads(line)["id"].encode() for line in f if line.strip()]
        if ids != sorted(ids) or not ids:
            raise CaseError("%s: ids not sorted: %r" % (a[0], ids))
    elif op == "lines":  # lines FILE N
        with open(path) as f:
            n = sum(1 for line in f if line.strip())
        if n != int(a[1]):
            raise CaseError("%s has %d lines, expected %s" % (a[0], n, a[1]))
    elif op == "same":  # same A B: byte-identical files
        with open(path, "rb") as f, open(os.path.join(cwd, a[1]), "rb") as g:
            if f.read() != g.read():
                raise CaseError("%s and %s differ" % (a[0], a[1]))
    elif op == "contains":  # contains FILE TEXT
        with open(path, errors="replace") as f:
            if a[1] not in f.read():
                raise CaseError("%s does not contain %r" % (a[0], a[1]))
    else:
        raise CaseError("unknown after step '%s'" % op)


# ---------------------------------------------------------------- cases.txt

DIRECTIVES = {"about", "use", "copy", "file", "gen", "setup", "background", "await", "hold", "run", "exit",
              "expect", "stdout", "reject", "out", "absent", "present", "after", "longlines"}


def parse_cases(path):
    blocks, current = [], None
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in ("case", "fixture"):
            current = {"kind": word, "name": rest, "steps": [], "line": i}
            blocks.append(current)
            continue
        if current is None or word not in DIRECTIVES:
            raise SystemExit("%s:%d: unexpected '%s'" % (path, i, line))
        if word == "file":
            body = []
            while i < len(lines) and lines[i] != "EOF":
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise SystemExit("%s:%d: 'file' without its EOF line" % (path, current["line"]))
            i += 1
            current["steps"].append(("file", rest, "\n".join(body) + "\n"))
        else:
            current["steps"].append((word, rest, None))
    fixtures = {b["name"]: b for b in blocks if b["kind"] == "fixture"}
    cases = [b for b in blocks if b["kind"] == "case"]
    names = [c["name"] for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit("duplicate case names: %s" % ", ".join(sorted(dup)))
    return fixtures, cases


def expand(case, fixtures, seen=()):
    steps = []
    for step in case["steps"]:
        if step[0] == "use":
            if step[1] not in fixtures or step[1] in seen:
                raise SystemExit("case %s: unknown or recursive fixture '%s'" % (case["name"], step[1]))
            steps += expand(fixtures[step[1]], fixtures, seen + (step[1],))
        else:
            steps.append(step)
    return steps


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


HOLDER = r"""
import fcntl, json, os, sys, time
path, mode, details = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
f = open(path, "a+")
fcntl.flock(f, fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX)
if details:
    f.truncate(0)
    f.write(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "program": "wsss-holder",
                        "started": "2020-01-01T00:00:00Z"}) + "\n")
    f.flush()
print("ready", flush=True)
time.sleep(120)
"""


def run_case(case, fixtures, bindir, verbose):
    tmp = tempfile.mkdtemp(prefix="badinput.")
    procs = []
    values = {"DEAD_PID": str(dead_pid()), "HOST": os.uname().nodename, "TMP": tmp}

    def subst(text):
        return re.sub(r"\{([A-Z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.pop("SLURM_ARRAY_TASK_ID", None)
    made = set()
    checks = {k: [] for k in ("expect", "stdout", "reject", "out", "absent", "present", "after")}
    expect, stdout_words, reject, outs, absent, present, afters = (
        checks[k] for k in ("expect", "stdout", "reject", "out", "absent", "present", "after"))
    command, want_exit, long_ok = None, None, False
    try:
        for kind, rest, body in expand(case, fixtures):
            if kind == "about":
                continue
            if kind == "file":
                path = os.path.join(tmp, subst(rest))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(subst(body))
                made.add(os.path.basename(rest))
            elif kind == "copy":
                parts = shlex.split(rest)
                dst = parts[1] if len(parts) > 1 else parts[0]
                os.makedirs(os.path.dirname(os.path.join(tmp, dst)) or tmp, exist_ok=True)
                shutil.copyfile(os.path.join(FILES, parts[0]), os.path.join(tmp, dst))
                made.add(os.path.basename(dst))
            elif kind == "gen":
                gen(rest, tmp, subst)
                target = shlex.split(rest)[1] if len(shlex.split(rest)) > 1 else ""
                made.add(os.path.basename(subst(target)))
                if shlex.split(rest)[0] == "exif":
                    made.add(os.path.basename(shlex.split(rest)[2]))
            elif kind == "setup":
                r = subprocess.run(shlex.split(subst(rest)), cwd=tmp, env=env, capture_output=True, timeout=60)
                if r.returncode != 0:
                    raise CaseError("setup '%s' exited %d:\n%s" % (rest, r.returncode, r.stderr.decode(errors="replace")))
            elif kind == "background":
                procs.append(subprocess.Popen(shlex.split(subst(rest)), cwd=tmp, env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                values["BG_PID"] = str(procs[-1].pid)
            elif kind == "await":  # await PATH: until it exists (a background run took its lock)
                path = os.path.join(tmp, subst(rest))
                deadline = time.time() + 20
                while not (os.path.exists(path) and os.path.getsize(path) > 0):
                    if time.time() > deadline:
                        raise CaseError("%s never appeared" % rest)
                    time.sleep(0.02)
            elif kind == "hold":  # hold PATH [shared] [nodetails]: a process holding a flock on PATH
                parts = shlex.split(rest)
                path = os.path.join(tmp, subst(parts[0]))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                mode = "shared" if "shared" in parts[1:] else "exclusive"
                details = "0" if "nodetails" in parts[1:] else "1"
                proc = subprocess.Popen([sys.executable, "-c", HOLDER, path, mode, details],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                procs.append(proc)
                if proc.stdout.readline().strip() != b"ready":
                    raise CaseError("lock holder did not start")
                values["HOLD_PID"] = str(proc.pid)
            elif kind == "run":
                command = rest
            elif kind == "exit":
                want_exit = int(rest)
            elif kind in checks:
                checks[kind].append(rest)
            elif kind == "longlines":
                long_ok = True
        if command is None or want_exit is None:
            raise CaseError("case has no 'run' or no 'exit'")
        argv = shlex.split(subst(command))
        made.update(os.path.basename(x.rstrip("/")) for x in argv[1:] if not x.startswith("-") and len(x) > 2)
        try:
            r = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise CaseError("'%s' did not finish within 60 s (a hang)" % command)
        err = r.stderr.decode("utf-8", errors="replace")
        out = r.stdout.decode("utf-8", errors="replace")
        problems = []
        if r.returncode < 0:
            problems.append("killed by signal %d (a crash)" % -r.returncode)
        elif r.returncode != want_exit:
            problems.append("exit %d, expected %d" % (r.returncode, want_exit))
        lines = err.split("\n")
        for w in CRASH_WORDS + [subst(x) for x in reject]:
            if w in err:
                problems.append("stderr holds %r" % w)
        if not long_ok:
            for line in lines:
                if len(line.encode()) > MAX_LINE:
                    problems.append("a stderr line of %d bytes (more than %d)" % (len(line.encode()), MAX_LINE))
                    break
        if want_exit != 0 and not any(": error: " in line or re.match(r"^\S+:\d+: ", line) for line in lines):
            problems.append("no error line on stderr")
        for e in expect:
            words = [subst(w.strip()) for w in e.split("|")]
            matching = [line for line in lines if all(w in line for w in words)]
            if not matching:
                problems.append("no stderr line holds all of %r" % words)
                continue
            # The line must say where: one of the case's files (or an option).
            named = [line for line in matching
                     if any(m and m in line for m in made) or "item '" in line or
                     re.search(r"(^|\s)--?[a-z]", line.split(": ", 1)[-1])]
            if not named and want_exit != 2:  # usage errors name the option or argument: the words say which
                problems.append("the line %r names none of the case's files %s" % (matching[0][:200], sorted(made)))
        for e in stdout_words:
            words = [subst(w.strip()) for w in e.split("|")]
            if not any(all(w in line for w in words) for line in out.split("\n")):
                problems.append("no stdout line holds all of %r" % words)
        for d in outs:
            root = os.path.join(tmp, subst(d))
            for dirpath, _, files in os.walk(root):
                for name in files:
                    rel = os.path.relpath(os.path.join(dirpath, name), tmp)
                    if ".tmp" in name:
                        problems.append("temporary file left: %s" % rel)
                    if name.startswith(".lock"):
                        problems.append("lock file left: %s" % rel)
                    if r.returncode != 0 and re.match(r"manifest(\.\d+-of-\d+)?\.jsonl$", name) and dirpath == root:
                        problems.append("a failed run left its output manifest: %s" % rel)
        for a in absent:
            if os.path.lexists(os.path.join(tmp, subst(a))):
                problems.append("%s exists" % a)
        for a in present:
            if not os.path.lexists(os.path.join(tmp, subst(a))):
                problems.append("%s is missing" % a)
        for a in afters:
            try:
                after(a, tmp, subst)
            except (CaseError, OSError, ValueError) as e:
                problems.append(str(e))
        if problems:
            raise CaseError("; ".join(problems) + "\n  $ " + command + "\n" +
                            "".join("  | " + line[:300] + "\n" for line in lines if line))
        if verbose:
            shown = [line for line in lines if ": error: " in line or ": warning: " in line]
            print("ok   %s\n       %s" % (case["name"], (shown[-1] if shown else "")[:200]))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("WSSS_BIN", os.path.join(HERE, "..", "..", "build", "bin")))
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.txt"))
    ap.add_argument("-k", default="", help="run only the cases whose name holds this")
    ap.add_argument("-v", action="store_true", help="list the cases that pass too")
    ap.add_argument("-j", type=int, default=min(4, os.cpu_count() or 1), help="cases run at once")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    fixtures, cases = parse_cases(a.cases)
    if a.list:
        for c in cases:
            print(c["name"])
        print("%d cases" % len(cases))
        return 0
    if os.environ.get("TMPDIR"):
        os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    bindir = os.path.abspath(a.bin)
    if not os.path.exists(os.path.join(bindir, "wsss-data")):
        print("no wsss-data in %s (give --bin or WSSS_BIN)" % bindir, file=sys.stderr)
        return 2
    selected = [c for c in cases if a.k in c["name"]]
    start = time.time()

    def one(c):
        needs = {w for kind, rest, _ in expand(c, fixtures) if kind in ("run", "setup", "background")
                 for w in [shlex.split(rest)[0]]}
        missing = [b for b in needs if b.startswith("wsss-") and not os.path.exists(os.path.join(bindir, b))]
        if missing:
            return "skip", "skip %s (not built: %s)" % (c["name"], ", ".join(missing))
        try:
            run_case(c, fixtures, bindir, False)
            return "pass", ("ok   %s" % c["name"]) if a.v else ""
        except CaseError as e:
            return "fail", "FAIL %s (cases.txt:%d): %s" % (c["name"], c["line"], e)

    # Cases are independent (each in its own directory): run a few at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.j)) as pool:
        results = list(pool.map(one, selected))
    for _, text in results:
        if text:
            print(text)
    passed = sum(r == "pass" for r, _ in results)
    failed = sum(r == "fail" for r, _ in results)
    skipped = sum(r == "skip" for r, _ in results)
    print("%d passed, %d failed%s of %d cases in %.1fs" % (passed, failed, ", %d skipped" % skipped if skipped else "",
                                                          len(selected), time.time() - start))
    if not a.k and len(cases) < MIN_CASES:
        print("only %d cases: the corpus must hold at least %d" % (len(cases), MIN_CASES))
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
