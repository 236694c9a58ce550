#!/usr/bin/env python3
"""Checks that the Dockerfile's runtime stage provides every shared library the release binary
links. The image cannot be built here (no Docker engine, no registry), so the check is static:

- `ldd BINARY` lists every library, direct and transitive; none may be "not found".
- A library under the Swift toolchain must be among the files the runtime stage copies from the
  build stage (COPY --from=build .../usr/lib/swift/linux/NAME).
- Any other library is mapped to its Debian package with `dpkg -S` (following symlinks such as
  OpenBLAS's alternatives link). The package of a library the binary itself needs (ELF NEEDED)
  must be named in the runtime stage's `apt-get install`; a library needed only by another
  library may instead come in as a dependency (Depends/Pre-Depends, from this machine's dpkg
  database: the runtime image is the same Debian release) of the packages named there.

Usage: runtime_libs.py BINARY DOCKERFILE
"""
import os
import re
import shlex
import subprocess
import sys


def stages(dockerfile_text):
    """Splits the Dockerfile into {stage name: [logical lines]} (continuations joined)."""
    logical, current = [], ""
    for raw in dockerfile_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result, name = {}, None
    for line in logical:
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if m:
            name = (m.group(1) or f"stage{len(result)}").lower()
            result[name] = []
        elif name:
            result[name].append(line)
    return result


def apt_installed(lines):
    packages = set()
    for line in lines:
        if not line.upper().startswith("RUN "):
            continue
        for command in re.split(r"&&|;", line[4:]):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                packages.update(w for w in words[words.index("install") + 1:] if not w.startswith("-"))
    return packages


def copied_swift_libs(lines):
    names = set()
    for line in lines:
        words = line.split()
        if words and words[0].upper() == "COPY" and any(w.startswith("--from=") for w in words):
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            names.update(os.path.basename(s) for s in sources if "/lib/swift/linux/" in s)
    return names


def ldd(binary):
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs, missing = {}, []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            missing.append(line.split()[0])
        elif "=>" in line:
            name, path = line.split("=>")[0].strip(), line.split("=>")[1].split("(")[0].strip()
            if path:
                libs[name] = path
        elif line.startswith("/"):
            libs[os.path.basename(line.split()[0])] = line.split()[0]
    return libs, missing


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def owner(path):
    """The Debian package owning `path` (or the file its symlinks lead to)."""
    candidates = [path, os.path.realpath(path)]
    if path.startswith("/lib"):
        candidates.append("/usr" + path)
    for candidate in candidates:
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def dependency_closure(roots):
    seen, todo = set(), list(roots)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package], capture_output=True, text=True)
        for alternative_group in r.stdout.split(","):
            for alternative in alternative_group.split("|"):
                name = alternative.strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
    return seen


def main():
    binary, dockerfile = sys.argv[1], sys.argv[2]
    by_stage = stages(open(dockerfile, encoding="utf-8").read())
    runtime = list(by_stage.values())[-1]
    installed = apt_installed(runtime)
    copied = copied_swift_libs(runtime)
    closure = dependency_closure(installed)
    libs, missing = ldd(binary)
    direct = needed(binary)
    problems = [f"ldd: {name} not found on this machine" for name in missing]
    print(f"runtime stage installs: {' '.join(sorted(installed))}")
    for name, path in sorted(libs.items()):
        if "/lib/swift/linux/" in path:
            ok = name in copied
            how = "copied from the toolchain stage" if ok else "NOT copied from the toolchain stage"
        else:
            package = owner(path)
            if package is None:
                ok, how = False, "owned by no Debian package"
            elif package in installed:
                ok, how = True, f"package {package} (installed)"
            elif package in closure and name not in direct:
                ok, how = True, f"package {package} (dependency of an installed package)"
            elif package in closure:
                ok, how = False, f"package {package} comes only as a dependency; the binary needs it directly: install it by name"
            else:
                ok, how = False, f"package {package} is NOT installed in the runtime stage"
        print(f"  {'ok ' if ok else 'BAD'} {name:36} {path}: {how}")
        if not ok:
            problems.append(f"{name}: {how}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"runtime libraries: {len(libs)} checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
