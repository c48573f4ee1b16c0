"""Collect the runner bundle into one folder that runs in any glibc x86-64 image (run at build time, as
root, in the agent image, where the runner and its tools are installed).

The bundle brings its own glibc: every dynamically linked executable in it is patched (patchelf) to
start through the bundle's own loader, with the bundle's lib/ searched first, so that it runs the
same whatever the image's libc version, and none of it touches the image's libraries or environment
(no LD_LIBRARY_PATH, which the agent's commands would inherit). What it holds:

    bin/          tini, rcoder-agent-init, and the commands a runner starts by name (the ACP adapters,
                  the MCP servers, git): the end of the container's PATH, after the image's own tools
    lib/          the loader, glibc and every library the rest needs
    python/       Debian's Python, relocated; venv/ (the runner) and mcp-fetch/ are venvs on it
    node/         Node.js, for the adapters only (not on PATH: the image's node stays the project's)
    agents/       the adapters' and chrome-devtools-mcp's node_modules
    git/          git and its helpers, for images without one
    libexec/      a static busybox (the launchers' shell)
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

LOADER_NAME = "ld-linux-x86-64.so.2"
INIT = Path("/usr/local/bin/rcoder-agent-init")
# What glibc or the runtimes dlopen, which ldd cannot see (libgcc_s: thread cancellation).
DLOPENED = ("libgcc_s.so.1",)
STDLIB_LEFT_OUT = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip"}
LDD_LINE = re.compile(r"^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$")


def main() -> None:
    root = Path(sys.argv[1])
    if root.exists():
        shutil.rmtree(root)
    for folder in ("bin", "lib", "libexec"):
        (root / folder).mkdir(parents=True)
    copy_python(root)
    copy_venv(Path("/opt/rcoder"), root / "venv", root)
    copy_venv(Path("/opt/mcp-fetch"), root / "mcp-fetch", root)
    copy_node(root)
    copy_git(root)
    shutil.copy2("/usr/bin/tini-static", root / "bin/tini")
    shutil.copy2("/bin/busybox", root / "libexec/busybox")
    (root / "libexec/sh").symlink_to("busybox")
    write_launchers(root)
    libraries = bring_libraries(root)
    patched = patch_executables(root)
    compile_bytecode(root)
    print(f"bundle {root}: {len(libraries)} libraries, {patched} executables patched")


def copy_python(root: Path) -> None:
    python = root / "python"
    (python / "bin").mkdir(parents=True)
    shutil.copy2("/usr/bin/python3.11", python / "bin/python3.11")
    (python / "bin/python3").symlink_to("python3.11")
    shutil.copytree(
        "/usr/lib/python3.11",
        python / "lib/python3.11",
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if n in STDLIB_LEFT_OUT or n == "site-packages"],
    )


def copy_venv(source: Path, target: Path, root: Path) -> None:
    """A venv of the image's, moved onto the bundle's Python: its config, interpreter links, console
    scripts' first lines and any link into /opt rewritten."""
    shutil.copytree(source, target, symlinks=True)
    (target / "pyvenv.cfg").write_text(
        f"home = {root}/python/bin\ninclude-system-site-packages = false\nversion = 3.11\n"
    )
    for name in ("python", "python3", "python3.11"):
        link = target / "bin" / name
        link.unlink(missing_ok=True)
        link.symlink_to(f"{root}/python/bin/python3.11")
    for script in (target / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        text = script.read_bytes()
        if text.startswith(b"#!" + bytes(source)):
            script.write_bytes(b"#!" + bytes(target) + text[2 + len(bytes(source)) :])
    for path in target.rglob("*"):
        if path.is_symlink() and os.readlink(path).startswith("/opt/agents"):
            destination = os.readlink(path).replace("/opt/agents", f"{root}/agents", 1)
            path.unlink()
            path.symlink_to(destination)


def copy_node(root: Path) -> None:
    (root / "node/bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath("/opt/node/nodejs/node"), root / "node/bin/node")
    shutil.copytree("/opt/agents", root / "agents", symlinks=True)


def copy_git(root: Path) -> None:
    (root / "git/bin").mkdir(parents=True)
    shutil.copy2("/usr/bin/git", root / "git/bin/git")
    shutil.copytree("/usr/lib/git-core", root / "git/libexec/git-core", symlinks=True)
    shutil.copytree("/usr/share/git-core/templates", root / "git/share/templates", symlinks=True)


def write_launchers(root: Path) -> None:
    """bin/: the commands a runner starts by name, each starting its program with the bundle's own
    interpreter (the image may have another node or python, or none), and the container's init."""
    sh, node = f"{root}/libexec/sh", f"{root}/node/bin/node"
    for name in ("rcoder-runner", "rcoder-runner-probe", "rcoder-demo-agent"):
        (root / "bin" / name).symlink_to(f"../venv/bin/{name}")
    (root / "bin/mcp-server-fetch").symlink_to("../mcp-fetch/bin/mcp-server-fetch")
    launchers = {
        "rcoder-agent-init": bundle_init(root),
        "git": (
            f"#!{sh}\n# The bundle's git, for images without one: its helpers are the bundle's too.\n"
            f"GIT_EXEC_PATH={root}/git/libexec/git-core GIT_TEMPLATE_DIR={root}/git/share/templates "
            f'exec {root}/git/bin/git "$@"\n'
        ),
    }
    for command in sorted((root / "agents/node_modules/.bin").iterdir()):
        launchers[command.name] = f'#!{sh}\nexec {node} {command} "$@"\n'
    for name, text in launchers.items():
        path = root / "bin" / name
        path.write_text(text)
        path.chmod(0o755)


def bundle_init(root: Path) -> str:
    """The agent image's rcoder-agent-init, run by the bundle's shell and starting the bundle's runner
    (an image built on ours has a runner of its own on PATH)."""
    text = INIT.read_text()
    for marker, replacement in (
        ("#!/bin/sh\n", f"#!{root}/libexec/sh\n"),
        ("  rcoder-runner ", f"  {root}/bin/rcoder-runner "),
    ):
        if marker not in text:
            raise SystemExit(f"{INIT} no longer has {marker!r}: update collect.py")
        text = text.replace(marker, replacement, 1)
    return text


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def elf_files(root: Path) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if not path.is_symlink() and path.is_file() and path.stat().st_size > 4 and is_elf(path)
    ]


def dependencies(path: Path) -> list[str]:
    """The libraries the image's loader resolves for `path` (none for a static one)."""
    result = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
    return [m.group(1) for line in result.stdout.splitlines() if (m := LDD_LINE.match(line))]


def bring_libraries(root: Path) -> set[str]:
    """Copy into lib/ every library any ELF file of the bundle needs, and the loader itself."""
    lib = root / "lib"
    wanted = {str(Path("/lib/x86_64-linux-gnu") / name) for name in DLOPENED}
    for path in elf_files(root):
        wanted.update(dependencies(path))
    names = set()
    for library in sorted(wanted):
        name = LOADER_NAME if library.endswith(LOADER_NAME) else Path(library).name
        if name not in names:
            shutil.copy2(os.path.realpath(library), lib / name)
            names.add(name)
    return names


def interpreter(path: Path) -> str | None:
    result = subprocess.run(["patchelf", "--print-interpreter", str(path)], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def patch_executables(root: Path) -> int:
    """Point each dynamic executable at the bundle's loader and lib/ (DT_RPATH, which the libraries
    it loads inherit); add lib/ to each library's own RUNPATH, which would hide the executable's."""
    lib, patched = root / "lib", 0
    for path in elf_files(root):
        if path.parent == lib:
            continue
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR)
        if interpreter(path):
            subprocess.run(
                [
                    "patchelf",
                    "--set-interpreter",
                    str(lib / LOADER_NAME),
                    "--force-rpath",
                    "--set-rpath",
                    str(lib),
                    str(path),
                ],
                check=True,
            )
            patched += 1
        else:
            runpath = subprocess.run(
                ["patchelf", "--print-rpath", str(path)], capture_output=True, text=True
            ).stdout.strip()
            if runpath:
                subprocess.run(["patchelf", "--set-rpath", f"{runpath}:{lib}", str(path)], check=True)
        path.chmod(mode)
    return patched


def compile_bytecode(root: Path) -> None:
    """Every module's bytecode, by the bundle's own Python: the bundle is mounted read-only, and a
    module without it is compiled again at every start (stdlib's alone made the runner's imports
    take 280 ms)."""
    folders = [root / "python/lib/python3.11", root / "venv/lib", root / "mcp-fetch/lib"]
    python = root / "python/bin/python3.11"
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", *map(str, folders)], check=True)


if __name__ == "__main__":
    main()
