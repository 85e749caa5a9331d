"""A TensorFlow Lite Micro source tree, the Arm toolchain, and TFLM static libraries built once and cached.

The tree is given by ``--tflm`` or ``$TFLM_DIR``: a tflite-micro checkout whose third-party downloads are in place
(flatbuffers, gemmlowp, ruy, CMSIS, CMSIS-NN: TFLM's Makefile would otherwise try the network), a folder holding
one (``tflm-tree/`` as the offline archive unpacks), or that ``.tar.gz`` itself, unpacked once into the cache.

Building ``libtensorflow-microlite.a`` with TFLM's own Makefile takes minutes, so each (tree, core, rounding)
library is built into ``$LANMSFF_TFLM_CACHE`` (default ``~/.cache/lanmsff-edge/tflm``), keyed by a hash of the
tree's files and the make variables; the tree itself is never written to (``BASE_GENDIR`` points into the cache),
so a read-only tree works. A failed build keeps its log in the cache and says where. ``host_library`` builds the
same for this computer (TFLM's reference kernels), for the native host runner (``firmware_export.host``).

Rounding (``ROUNDINGS``): how the int8 kernels requantize an int32 accumulator. ``double`` is TFLM's and CMSIS-NN's
stock arithmetic (gemmlowp-style: ``SaturatingRoundingDoublingHighMul``, then ``RoundingDivideByPOT``);
``single`` defines ``TFLITE_SINGLE_ROUNDING=1`` (TFLM's reference kernels and ``QuantizeMultiplier``) and
``CMSIS_NN_USE_SINGLE_ROUNDING`` (CMSIS-NN's ``arm_nn_requantize`` and its Helium form): one rounding of
``acc × multiplier / 2^(31 − shift)``, half up, which is what LiteRT's XNNPACK computes on a phone up to its fp32
multiplier. Both switches go to every file of the build (``ADDITIONAL_DEFINES``) and to the bundle's own sources.
"""
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import kernels
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
REQUIRED_DOWNLOADS = ("flatbuffers", "gemmlowp", "ruy", "cmsis", "cmsis_nn")
LIBRARY = "libtensorflow-microlite.a"
# What fetches REQUIRED_DOWNLOADS into a plain tflite-micro checkout (run in it once, with network): TFLM's
# Makefile downloads them while it parses these variables; the toolchain root keeps it from downloading Arm's GCC.
DOWNLOAD_COMMAND = (f"make -f {MAKEFILE} TARGET=cortex_m_generic TARGET_ARCH=cortex-m7 OPTIMIZED_KERNEL_DIR=cmsis_nn "
                    "TARGET_TOOLCHAIN_ROOT=/usr/bin/ TARGET_TOOLCHAIN_PREFIX=arm-none-eabi- third_party_downloads")
BUILD_TIME = "5-10 min on 2 cores"  # measured on this project's 2-core machine (a Cortex-M7 CMSIS-NN library)
PROGRESS_EVERY = 30.0  # seconds between two progress lines of a TFLM build

# Debian package of each tool the Arm build and the emulator need.
TOOLS = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-g++": "gcc-arm-none-eabi",
    "arm-none-eabi-ar": "binutils-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "make": "make",
    "qemu-system-arm": "qemu-system-arm",
}
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"

ROUNDINGS = ("single", "double")
DEFAULT_ROUNDING = "single"  # phone-board parity (docs/parity.md), at no measured cost on the emulated cores
SINGLE_ROUNDING_DEFINES = ("TFLITE_SINGLE_ROUNDING=1", "CMSIS_NN_USE_SINGLE_ROUNDING")


def check_rounding(rounding):
    """``rounding`` if it is one of ``ROUNDINGS``, else a ``UserError``."""
    if rounding not in ROUNDINGS:
        raise UserError(f"--rounding {rounding!r}: choose one of {', '.join(ROUNDINGS)}")
    return rounding


def rounding_defines(rounding):
    """The preprocessor definitions (``NAME=VALUE``, no ``-D``) that select ``rounding`` in TFLM and CMSIS-NN."""
    return list(SINGLE_ROUNDING_DEFINES) if check_rounding(rounding) == "single" else []


def cache_root():
    return Path(os.environ.get("LANMSFF_TFLM_CACHE") or Path.home() / ".cache" / "lanmsff-edge" / "tflm")


def require_tools(names=tuple(TOOLS)):
    """Paths of the named tools; a ``UserError`` naming the Debian package when one is missing."""
    found = {}
    for name in names:
        path = shutil.which(name)
        if path is None:
            raise UserError(f"{name} not found: the Arm build needs it (Debian/Ubuntu: "
                            f"sudo apt-get install {APT_PACKAGES})")
        found[name] = path
    return found


def newlib_present(gcc):
    """True when the Arm toolchain has newlib (libnewlib-arm-none-eabi): without it nothing links."""
    result = subprocess.run([gcc, "-print-file-name=libc.a", "-mthumb", "-mcpu=cortex-m7", "-mfloat-abi=hard",
                             "-mfpu=auto"], capture_output=True, text=True)
    return result.returncode == 0 and os.path.isabs(result.stdout.strip())


@dataclass(frozen=True)
class Tree:
    root: Path          # the tflite-micro folder
    fingerprint: str    # sha256 over its files' paths and contents (gen/ excluded)

    @property
    def downloads(self):
        return self.root / DOWNLOADS

    @property
    def makefile(self):
        return self.root / MAKEFILE


def _is_tflm(folder):
    return (folder / MAKEFILE).is_file()


def find_tree(option=None):
    """The TFLM tree named by ``option`` (a path, or a ``Tree`` already found) or ``$TFLM_DIR``; ``UserError``
    when none is given or it is unusable."""
    if isinstance(option, Tree):
        return option
    given = option or os.environ.get("TFLM_DIR")
    if not given:
        raise UserError("no TensorFlow Lite Micro tree: give --tflm DIR (a tflite-micro checkout with its "
                        "downloads, or the offline tflm-tree.tar.gz; docs/data.md says how to get one) or set "
                        "TFLM_DIR")
    named = f"--tflm {given}" if option else f"TFLM_DIR={given}"  # the user's own words, in every error
    path = Path(given).expanduser()
    if not path.exists():
        raise UserError(f"{named}: no such file or directory")
    from lanmsff_edge import userfiles

    userfiles.check_input(path, named)  # a FIFO or device would block or never end
    if path.is_file():
        path = _unpacked(path, named)
    candidates = [path, path / "tflite-micro"] + sorted(path.glob("*/tflite-micro"))
    root = next((c for c in candidates if _is_tflm(c)), None)
    if root is None:
        raise UserError(f"{named}: not a TensorFlow Lite Micro tree (no {MAKEFILE} in it or in a "
                        "tflite-micro/ folder inside)")
    missing = [name for name in REQUIRED_DOWNLOADS if not (root / DOWNLOADS / name).is_dir()]
    if missing:
        raise UserError(f"{named}: the tree {root} lacks its third-party downloads ({', '.join(missing)} under "
                        f"{DOWNLOADS}); fetch them once with network: {DOWNLOAD_COMMAND} (docs/data.md), or use the "
                        "offline tflm-tree")
    return Tree(root.resolve(), fingerprint(root))


def _unpacked(archive, named):
    """Unpack a .tar.gz TFLM tree once into the cache (keyed by the archive's hash); return the folder."""
    digest = hashlib.sha256()
    try:
        with open(archive, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise UserError(f"{named}: cannot read it ({error.strerror or error})") from None
    target = cache_root() / "trees" / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        os.replace(staging, target)
    except (tarfile.TarError, OSError) as error:
        raise UserError(f"{named}: not a readable .tar.gz TFLM tree ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def fingerprint(root):
    """sha256 of every file's relative path and bytes under ``root`` (skipping ``gen/`` and ``.git``):
    a changed kernel source gives a new key, so a cached library never outlives the sources it came from."""
    digest = hashlib.sha256()
    root = Path(root)
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("gen", ".git"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _with_rounding(variables, rounding):
    """``variables`` plus the rounding switches. TFLM's Makefile collects its own ``-D``s in ``ADDITIONAL_DEFINES``
    (``-DCMSIS_NN`` from ``OPTIMIZED_KERNEL_DIR``); a command-line value replaces that list, so it is restated."""
    defines = rounding_defines(rounding)
    if defines:
        own = [f"-D{variables['OPTIMIZED_KERNEL_DIR'].upper()}"] if variables.get("OPTIMIZED_KERNEL_DIR") else []
        variables["ADDITIONAL_DEFINES"] = " ".join(own + [f"-D{d}" for d in defines])
    return variables


def make_variables(core, rounding=DEFAULT_ROUNDING):
    # release_with_logs: TFLM's own advice for profiling and benchmarking (no DCHECKs, ~5-10 % faster than the
    # default build) while MicroPrintf and the per-op profiler still work.
    return _with_rounding({"TARGET": "cortex_m_generic", "TARGET_ARCH": core.tflm_arch,
                           "OPTIMIZED_KERNEL_DIR": "cmsis_nn", "BUILD_TYPE": "release_with_logs",
                           "TARGET_TOOLCHAIN_ROOT": str(Path(shutil.which("arm-none-eabi-gcc")).parent) + "/",
                           "TARGET_TOOLCHAIN_PREFIX": "arm-none-eabi-"}, rounding)


def host_variables(rounding=DEFAULT_ROUNDING):
    """Make variables of the host library: TFLM's default target (this machine), reference kernels."""
    return _with_rounding({"BUILD_TYPE": "release_with_logs"}, rounding)


@contextlib.contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes asking for the same library build it once
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def library(tree, core, methods=None, jobs=None, rounding=DEFAULT_ROUNDING):
    """The path of ``libtensorflow-microlite.a`` for ``core`` (CMSIS-NN kernels, ``rounding``), built now if not
    cached. ``methods``: the op resolver's ``Add…()`` calls; the library then holds only their kernels (about a
    fifth of TFLM's kernel files for LANMSFF, see ``kernels``) and is cached per op set. None builds every kernel."""
    tools = require_tools(("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-ar", "make"))
    if not newlib_present(tools["arm-none-eabi-gcc"]):
        raise UserError("the Arm toolchain has no C library (newlib): sudo apt-get install libnewlib-arm-none-eabi "
                        "libstdc++-arm-none-eabi-newlib")
    # double keeps the folder name it had before the rounding option (and the same key): existing caches still hit
    label = f"{core.tflm_arch}-cmsis_nn" + ("" if rounding == "double" else f"-{rounding}")
    return _build(tree, make_variables(core, rounding), label, f"{core.name} with CMSIS-NN, {rounding} rounding",
                  methods, jobs)


def host_library(tree, methods=None, jobs=None, rounding=DEFAULT_ROUNDING):
    """``libtensorflow-microlite.a`` for this computer (TFLM's reference kernels, ``rounding``), as ``library``."""
    for name in ("gcc", "g++", "ar", "make"):
        if shutil.which(name) is None:
            raise UserError(f"{name} not found: building TensorFlow Lite Micro for this computer needs it (Debian/"
                            "Ubuntu: sudo apt-get install build-essential)")
    return _build(tree, host_variables(rounding), f"host-reference-{rounding}",
                  f"this computer (reference kernels), {rounding} rounding", methods, jobs)


def _build(tree, variables, label, what, methods, jobs):
    selection = kernels.select(tree, variables, methods) if methods else None
    variables.update(selection or {})
    key = hashlib.sha256((tree.fingerprint + repr(sorted(variables.items()))).encode()).hexdigest()[:16]
    scope = "ops" if selection else "all"
    folder = cache_root() / "lib" / f"{label}-{scope}-{key}"
    final = folder / LIBRARY
    with _locked(folder.parent / f".{folder.name}.lock"):
        if final.is_file():
            return final
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "build.log"
        gendir = folder / "gen"
        command = ["make", "-f", MAKEFILE, f"-j{jobs or os.cpu_count() or 1}", "microlite",
                   f"BASE_GENDIR={gendir}"] + [f"{k}={v}" for k, v in variables.items()]
        files = (f"{len(selection[kernels.KERNEL_LIST].split())} kernel and "
                 f"{len(selection.get(kernels.CMSIS_NN_LIST, '').split())} CMSIS-NN files" if selection
                 else "every kernel")
        LOGGER.info(f"building TensorFlow Lite Micro for {what} ({files}): a one-time cost of "
                    f"{BUILD_TIME}; later runs reuse {folder}")
        # TFLM's Makefile runs python3 scripts while it parses: the interpreter running this tool has what they
        # need (numpy, Pillow), so it goes first on PATH.
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        with open(log, "w") as handle:
            handle.write(" ".join(command) + "\n")
            handle.flush()
            returncode = _run_with_progress(command, tree.root, handle, env, gendir)
        built = sorted(gendir.glob(f"*/lib/{LIBRARY}"))
        if returncode != 0 or not built:
            raise UserError(f"building TensorFlow Lite Micro for {what} failed (make exit "
                            f"{returncode}); build log: {log}")
        os.replace(built[0], final)
        shutil.rmtree(gendir, ignore_errors=True)  # objects are not needed once the archive exists
    return final


def _run_with_progress(command, cwd, log, env, gendir, every=PROGRESS_EVERY):
    """Run make with its output into ``log``; every ``every`` seconds, log how many object files it has compiled
    (a build of minutes is otherwise silent). Returns make's exit code."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        while True:
            try:
                return process.wait(timeout=every)
            except subprocess.TimeoutExpired:
                objects = sum(1 for _ in Path(gendir).rglob("*.o"))
                LOGGER.info(f"  TFLM build: {objects} object files compiled ({(time.monotonic() - started) / 60:.1f} "
                            "min)")
    finally:
        if process.poll() is None:  # interrupted: stop make, too
            process.terminate()
            process.wait()


def include_dirs(tree):
    d = tree.downloads
    return [tree.root, d, d / "flatbuffers" / "include", d / "gemmlowp", d / "ruy",
            d / "cmsis" / "CMSIS" / "Core" / "Include", d / "cmsis_nn", d / "cmsis_nn" / "Include"]
