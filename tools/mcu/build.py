"""Build MicroPython's qemu port with the handheld firmware frozen in, cached by its inputs.

`firmware(target, variant, heap)` returns the path of a `firmware.elf`, building it only when no
build with the same inputs exists: the source (the hash of the tarball, or the checkout's
commit), the board, the variant, the heap and RAM-disk sizes, the generated manifest and every
file it freezes, the C module and this file. The cache is $MCU_CACHE, else
$XDG_CACHE_HOME/patient-programmer/mcu (~/.cache/...); a lock file keeps concurrent builds
(parallel test runs, other checkouts) from stepping on each other.

The source is $MICROPYTHON_SRC (a MicroPython checkout, or a tarball of one), else the pinned
tarball in ../shared/micropython/ beside the checkout. Variants: "frozen" (the lockstep board's
modules and the glue frozen) and "mpy" (only the glue frozen; tools/mcu/qemu.py copies the
deploy plan's .mpy files onto littlefs at boot, as on a Pico).
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from tools.mcu import MCUError, REPO, TARGETS, VARIANTS, parse_size
from tools.mcu import packaging

BUILD_VERSION = "1"  # bump to invalidate every cached build
CMOD_DIR = os.path.join(REPO, "tools", "mcu", "cmod")
DEVICE_DIR = os.path.join(REPO, "tools", "mcu", "device")
TARBALL = os.path.join("micropython", "micropython-src.tar.gz")
BOARD = "lockstep"  # the firmware runs on the lockstep board over the emulated UART
# Glue frozen in both variants: the boot glue and the heap probe tools.bench uses.
GLUE = (
    (os.path.join(DEVICE_DIR, "mcuboot.py"), "mcuboot.py"),
    (os.path.join(REPO, "tools", "__init__.py"), "tools/__init__.py"),
    (os.path.join(REPO, "tools", "bench", "__init__.py"), "tools/bench/__init__.py"),
    (os.path.join(REPO, "tools", "bench", "mp_heap.py"), "tools/bench/mp_heap.py"),
)


def cache_dir():
    explicit = os.environ.get("MCU_CACHE")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "patient-programmer", "mcu")


def find_source():
    """(path, kind) of the MicroPython source: kind "tarball" or "checkout"."""
    explicit = os.environ.get("MICROPYTHON_SRC")
    if explicit:
        path = os.path.abspath(os.path.expanduser(explicit))
        if os.path.isdir(path):
            if not os.path.isdir(os.path.join(path, "ports", "qemu")):
                raise MCUError("MICROPYTHON_SRC=%s is not a MicroPython checkout (no ports/qemu)" % explicit)
            return path, "checkout"
        if os.path.isfile(path):
            return path, "tarball"
        raise MCUError("MICROPYTHON_SRC=%s does not exist" % explicit)
    shared = os.path.join(os.path.dirname(REPO), "shared", TARBALL)
    if os.path.isfile(shared):
        return shared, "tarball"
    raise MCUError(
        "the MicroPython source was not found: expected %s, or set MICROPYTHON_SRC to a MicroPython checkout (docs/boards.md)"
        % shared
    )


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def source_id(path, kind):
    if kind == "tarball":
        return "tarball:" + _sha256_file(path)
    try:
        head = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=60)
        if head.returncode == 0:
            return "git:%s%s" % (head.stdout.strip(), "+dirty" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return "dir:%s:%d" % (path, int(os.stat(os.path.join(path, "py", "mpconfig.h")).st_mtime))


def check_toolchain(run_only=False):
    """Raise MCUError naming the first missing tool and the apt packages that provide it."""
    needed = [("qemu-system-arm", "qemu-system-arm")]
    if not run_only:
        needed = [("make", "make"), ("gcc", "gcc"), ("arm-none-eabi-gcc", "gcc-arm-none-eabi")] + needed
    for exe, package in needed:
        if shutil.which(exe) is None:
            raise MCUError(
                "%s was not found: apt-get install --no-install-recommends %s (docs/boards.md)"
                % (exe, "qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi" if package != "make" and package != "gcc" else package)
            )
    if not run_only:
        res = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc.a"], capture_output=True, text=True)
        if not os.path.isabs(res.stdout.strip()):
            raise MCUError("newlib for arm-none-eabi was not found: apt-get install --no-install-recommends libnewlib-arm-none-eabi (docs/boards.md)")


class _Lock:
    def __init__(self, path):
        self.path = path
        self.fd = -1

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _unpacked(cache, path, kind, sid, log):
    """The source tree to build from (a tarball is unpacked once per hash)."""
    if kind == "checkout":
        return path
    top = os.path.join(cache, "src", hashlib.sha256(sid.encode()).hexdigest()[:16])
    tree = os.path.join(top, "micropython")
    if os.path.isdir(os.path.join(tree, "ports", "qemu")):
        return tree
    log("mcu: unpacking %s" % path)
    tmp = tempfile.mkdtemp(prefix="unpack-", dir=os.path.join(cache))
    with tarfile.open(path) as tar:
        try:
            tar.extractall(tmp, filter="data")
        except TypeError:  # Python before 3.12 without the filter argument
            tar.extractall(tmp)
    found = os.path.join(tmp, "micropython")
    if not os.path.isdir(found):
        subdirs = [d for d in os.listdir(tmp) if os.path.isdir(os.path.join(tmp, d, "ports", "qemu"))]
        if not subdirs:
            raise MCUError("%s holds no MicroPython source (no */ports/qemu)" % path)
        found = os.path.join(tmp, subdirs[0])
    if os.path.isdir(top):
        shutil.rmtree(top)
    os.makedirs(top)
    os.rename(found, tree)
    shutil.rmtree(tmp, ignore_errors=True)
    return tree


def source_tree(log=None):
    """The MicroPython source tree to build from (a tarball is unpacked into the cache once)."""
    log = log or (lambda text: sys.stderr.write(text + "\n"))
    path, kind = find_source()
    cache = cache_dir()
    with _Lock(os.path.join(cache, "lock")):
        return _unpacked(cache, path, kind, source_id(path, kind), log)


def manifest_files(manifest, log=None):
    """[(source path, path in the image)] that a manifest freezes, as MicroPython's own
    tools/manifestfile.py reads it (what `make FROZEN_MANIFEST=...` would freeze)."""
    tree = source_tree(log)
    tools = os.path.join(tree, "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import manifestfile  # type: ignore  # MicroPython's, from the source tree

    lib = os.path.join(cache_dir(), "micropython-lib")
    m = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, {"MPY_DIR": tree, "MPY_LIB_DIR": lib, "PORT_DIR": None, "BOARD_DIR": None})
    try:
        m.execute(os.path.abspath(manifest))
    except manifestfile.ManifestFileError as e:
        raise MCUError("the manifest %s does not run: %s" % (manifest, e))
    return [(f.full_path, f.target_path) for f in m.files()]


def frozen_files(variant):
    """[(source, name in the image)] frozen into a variant."""
    files = list(GLUE)
    if variant == "frozen":
        files = packaging.frozen(BOARD) + files
    return files


def snapshot(variant):
    """{name in the image: bytes} of what a variant freezes, read once: the build freezes these
    very bytes (copied into a staging folder), so that the cache key always matches the image
    even while someone edits the sources."""
    out = {}
    for src, name in frozen_files(variant):
        with open(src, "rb") as f:
            out[name] = f.read()
    return out


def manifest_text(variant, names, stage):
    lines = [
        "# Generated by tools/mcu/build.py for the Cortex-M target (variant %s): the files of" % variant,
        "# boards/lockstep/manifest.py (exactly what tools.deploy puts on the lockstep board) and the",
        "# glue, frozen from a snapshot taken when the build's inputs were hashed.",
    ]
    for name in sorted(names):
        lines.append("module(%r, base_path=%r)" % (name, stage))
    return "\n".join(lines) + "\n"


def ramdisk_bytes(target, variant, heap):
    t = TARGETS[target]
    if t["ram"] is None:
        return t["ramdisk"]
    # RAM is shared: what the heap, the stack and MicroPython's own state leave.
    room = t["ram"] - heap - t["reserve"]
    want = t["ramdisk"] if variant == "frozen" else t["ramdisk_mpy"]
    size = min(want, room) // 4096 * 4096
    if size < t["ramdisk"]:
        raise MCUError(
            "a %d KB heap leaves %d KB of the %s's %d KB RAM for the file system; it needs %d KB"
            % (heap // 1024, max(room, 0) // 1024, target, t["ram"] // 1024, want // 1024)
        )
    return size


def inputs(target, variant, heap, sid, snap=None):
    """The dict hashed into the cache key (and stored beside the build); `snap`: snapshot()."""
    files = {}
    for name, data in sorted((snap if snap is not None else snapshot(variant)).items()):
        files[name] = hashlib.sha256(data).hexdigest()
    for leaf in sorted(os.listdir(os.path.join(CMOD_DIR, "mcu"))):
        files["cmod/" + leaf] = _sha256_file(os.path.join(CMOD_DIR, "mcu", leaf))
    files["tools/mcu/build.py"] = _sha256_file(os.path.abspath(__file__))
    return {
        "version": BUILD_VERSION,
        "source": sid,
        "board": TARGETS[target]["board"],
        "variant": variant,
        "heap": heap,
        "ramdisk": ramdisk_bytes(target, variant, heap),
        "files": files,
    }


def key_of(info):
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:20]


def cached(target, variant="frozen", heap=None):
    """Path of the cached firmware.elf for these inputs, or None."""
    heap = _heap(target, variant, heap)
    path, kind = find_source()
    info = inputs(target, variant, heap, source_id(path, kind))
    elf = os.path.join(cache_dir(), "fw", key_of(info), "firmware.elf")
    return elf if os.path.isfile(elf) else None


def _heap(target, variant, heap):
    if heap is None:
        t = TARGETS[target]
        return t["heap"] if variant == "frozen" else t["heap_mpy"]
    n = parse_size(heap) if isinstance(heap, str) else int(heap)
    if n < 8 * 1024 or n % 16:
        raise MCUError("a heap of %d bytes: give at least 8K, a multiple of 16 bytes" % n)
    return n


def firmware(target, variant="frozen", heap=None, log=None, jobs=2):
    """Path of firmware.elf for (target, variant, heap bytes or "48K"), built if not cached."""
    if target not in TARGETS:
        raise MCUError("unknown target %r (known: %s)" % (target, ", ".join(TARGETS)))
    if variant not in VARIANTS:
        raise MCUError("unknown variant %r (known: %s)" % (variant, ", ".join(VARIANTS)))
    log = log or (lambda text: sys.stderr.write(text + "\n"))
    heap = _heap(target, variant, heap)
    path, kind = find_source()
    sid = source_id(path, kind)
    snap = snapshot(variant)
    info = inputs(target, variant, heap, sid, snap)
    key = key_of(info)
    cache = cache_dir()
    out_dir = os.path.join(cache, "fw", key)
    elf = os.path.join(out_dir, "firmware.elf")
    if os.path.isfile(elf):
        return elf
    check_toolchain()
    with _Lock(os.path.join(cache, "lock")):
        if os.path.isfile(elf):  # built by someone else while we waited
            return elf
        t0 = time.monotonic()
        tree = _unpacked(cache, path, kind, sid, log)
        _build(tree, cache, target, variant, info, snap, out_dir, log, jobs)
        took = time.monotonic() - t0
        log("mcu: built %s (%s, %s, heap %d KB) in %.0f s" % (target, TARGETS[target]["cpu"], variant, heap // 1024, took))
        with open(os.path.join(out_dir, "info.json"), "w") as f:
            info = dict(info, build_s=round(took, 1), built=time.strftime("%Y-%m-%d %H:%M:%S"))
            json.dump(info, f, indent=1, sort_keys=True)
    return elf


def _make(argv, log, what):
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-25:]
        raise MCUError("%s failed (exit %d):\n%s" % (what, res.returncode, "\n".join("  | " + x for x in tail)))
    return res


def _build(tree, cache, target, variant, info, snap, out_dir, log, jobs):
    t = TARGETS[target]
    mpy_cross = os.path.join(tree, "mpy-cross", "build", "mpy-cross")
    if not os.path.isfile(mpy_cross):
        log("mcu: building mpy-cross")
        _make(["make", "-j%d" % jobs, "-C", os.path.join(tree, "mpy-cross")], log, "building mpy-cross")
    work = os.path.join(cache, "work", hashlib.sha256(tree.encode()).hexdigest()[:8], "%s-%s" % (target, variant))
    build = os.path.join(work, "build")
    os.makedirs(build, exist_ok=True)
    lib = os.path.join(cache, "micropython-lib")  # makemanifest insists on one; nothing is used
    os.makedirs(lib, exist_ok=True)
    with open(os.path.join(lib, "README.md"), "w") as f:
        f.write("placeholder: the Cortex-M target freezes no micropython-lib package\n")
    stage = os.path.join(work, "stage")
    if os.path.isdir(stage):
        shutil.rmtree(stage)
    for name, data in snap.items():
        path = os.path.join(stage, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    manifest = os.path.join(work, "manifest.py")
    with open(manifest, "w") as f:
        f.write(manifest_text(variant, snap, stage))
    # The heap and RAM-disk sizes are compiler flags, which make does not track: recompile
    # the two files that use them.
    for stale in (os.path.join(build, "main.o"), os.path.join(build, "mcu", "mcu.o")):
        if os.path.exists(stale):
            os.remove(stale)
    log("mcu: building the qemu port for %s (%s, %s), heap %d KB" % (target, t["board"], variant, info["heap"] // 1024))
    _make(
        [
            "make", "-j%d" % jobs, "-C", os.path.join(tree, "ports", "qemu"),
            "BOARD=" + t["board"], "BUILD=" + build,
            "FROZEN_MANIFEST=" + manifest, "MPY_LIB_DIR=" + lib,
            "MICROPY_HEAP_SIZE=%d" % info["heap"], "MICROPY_VFS_LFS2=1",
            "USER_C_MODULES=" + CMOD_DIR, "CFLAGS_EXTRA=-DMCU_RAMDISK_SIZE=%d" % info["ramdisk"],
        ],
        log,
        "building the qemu port",
    )  # fmt: skip
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "firmware.elf.tmp")
    shutil.copyfile(os.path.join(build, "firmware.elf"), tmp)
    os.rename(tmp, os.path.join(out_dir, "firmware.elf"))


def size_of(elf):
    """{text, data, bss} of an elf (arm-none-eabi-size), or {} when the tool is missing."""
    try:
        res = subprocess.run(["arm-none-eabi-size", elf], capture_output=True, text=True, timeout=30)
    except OSError:
        return {}
    lines = res.stdout.strip().splitlines()
    if len(lines) < 2:
        return {}
    parts = lines[1].split()
    return {"text": int(parts[0]), "data": int(parts[1]), "bss": int(parts[2])}
