#!/usr/bin/env python3
"""Checks the library's layering from its #include lines.

The modules of lib/ form layers (docs/architecture.md):

    core io stage data text scores metrics viz models train cam refine pseudo seg eval report cli

A file of a module may include the headers of its own module and of the modules
before it, never of a module after it: a lower layer never depends on a higher
one, and the modules have no cycles. Also, the source files that build without
LibTorch (those of every module but models, train, cam and seg, except the
*_torch.cpp files) must not include, directly or through other headers, a
header that includes LibTorch, so that their targets link without it.

usage: check_layers.py [--root DIR]   (DIR: the checkout, default: this script's parent)
Prints one line per violation, FILE:LINE: what, and exits 1 when there is any.
"""
import argparse
import os
import re
import sys

LAYERS = ["core", "io", "stage", "data", "text", "scores", "metrics", "viz", "models", "train", "cam", "refine",
          "pseudo", "seg", "eval", "report", "cli"]
TORCH_MODULES = {"models", "train", "cam", "seg"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"wsss/([a-z_]+)/([^"]+)"')
TORCH_INCLUDE = re.compile(r'^\s*#\s*include\s*<(torch|ATen|c10)/')


def module_files(root):
    """(module, path, builds_without_torch) for every source and header of lib/."""
    lib = os.path.join(root, "lib")
    for module in LAYERS:
        dirs = [os.path.join(lib, "cli")] if module == "cli" else [
            os.path.join(lib, "include", "wsss", module), os.path.join(lib, "src", module)]
        for d in dirs:
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                if not name.endswith((".hpp", ".cpp", ".h")):
                    continue
                plain = module not in TORCH_MODULES and not name.endswith("_torch.cpp")
                yield module, os.path.join(d, name), plain


def includes_of(path):
    """(line number, module, header) of the wsss includes, and whether LibTorch is included directly."""
    found, torch = [], False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                found.append((number, m.group(1), m.group(2)))
            elif TORCH_INCLUDE.match(line):
                torch = True
    return found, torch


def check(root):
    problems = []
    rank = {m: i for i, m in enumerate(LAYERS)}
    files = list(module_files(root))
    info = {path: includes_of(path) for _, path, _ in files}
    header_path = lambda dep, header: os.path.join(root, "lib", "include", "wsss", dep, header)
    torch_memo = {}

    def needs_torch(path, seen=()):
        """Whether a header includes LibTorch, directly or through other wsss headers."""
        if path in torch_memo:
            return torch_memo[path]
        if path in seen or not os.path.exists(path):
            return False
        includes, direct = info.get(path) or includes_of(path)
        result = direct or any(needs_torch(header_path(d, h), seen + (path,)) for _, d, h in includes)
        torch_memo[path] = result
        return result

    for module, path, plain in files:
        rel = os.path.relpath(path, root)
        for number, dep, header in info[path][0]:
            if dep not in rank:
                problems.append(f"{rel}:{number}: includes wsss/{dep}/{header}, a module that is not in the "
                                f"layer list of scripts/check_layers.py")
            elif rank[dep] > rank[module]:
                problems.append(f"{rel}:{number}: {module} includes wsss/{dep}/{header}, a higher layer "
                                f"({module} comes before {dep})")
            elif plain and path.endswith(".cpp") and needs_torch(header_path(dep, header)):
                problems.append(f"{rel}:{number}: builds without LibTorch but includes wsss/{dep}/{header}, "
                                f"which needs it")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = parser.parse_args()
    problems = check(args.root)
    for p in problems:
        print(p)
    files = sum(1 for _ in module_files(args.root))
    print(f"check_layers: {files} files, {len(problems)} violation(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
