"""Which TFLM kernel and CMSIS-NN sources a model's op resolver needs, so the library builds only those.

TFLM's Makefile compiles every kernel (158 files for cortex_m_generic + cmsis_nn) and every CMSIS-NN function
(113); a model uses a handful of ops. ``select(tree, variables, methods)`` asks the Makefile itself for its lists
(already specialized: ``kernels/cmsis_nn/conv.cc`` in place of ``kernels/conv.cc``, so the optimized kernels are
kept), then keeps
- of the kernel files: those that define a ``Register_X()`` the resolver's ``Add…()`` methods call (read from the
  tree's ``micro_mutable_op_resolver.h``), and the helpers that register no op (``conv_common.cc``,
  ``kernel_util.cc``) whose header those files or TFLM's framework sources include;
- of CMSIS-NN: the closure of the ``arm_*`` functions and tables the kept kernels use, through the CMSIS-NN
  sources that define them.
Both lists go to make as command-line variables, which take precedence over the Makefile's own assignments, and
every compile flag stays as TFLM sets it. A selection that misses a file shows as an undefined symbol at link
time, never as a silently different kernel; ``None`` (build everything) is returned when the tree's sources do not
match the patterns read here.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
KERNEL_LIST = "MICROLITE_CC_KERNEL_SRCS"
CMSIS_NN_LIST = "CMSIS_NN_CC_SRCS"
FRAMEWORK_LIST = "MICROLITE_CC_SRCS"  # interpreter, allocator…: always built, and they use some kernel helpers
LISTS = (KERNEL_LIST, CMSIS_NN_LIST, FRAMEWORK_LIST)

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_METHOD = re.compile(r"TfLiteStatus\s+(Add\w+)\s*\(")
_REGISTRATION_CALL = re.compile(r"\b(Register_\w+)\s*\(")
_REGISTRATION_DEF = re.compile(r"\bTFLMRegistration\s*\*?\s+(Register_\w+)\s*\(\s*\)\s*\{")
_C_FUNCTION_DEF = re.compile(r"(?m)^[A-Za-z_][\w \t\*]*?\b(arm_\w+)\s*\([^;{}]*\)\s*\{")
_C_TABLE_DEF = re.compile(r"(?m)^(?:const\s+)?[A-Za-z_]\w*\s+(\w+)\s*\[[^\]]*\]\s*=")
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
_INCLUDE = re.compile(r'(?m)^\s*#\s*include\s*"([^"]+)"')


def _text(path):
    return _COMMENT.sub(" ", Path(path).read_text(encoding="utf-8", errors="replace"))


def makefile_lists(tree, variables):
    """The Makefile's kernel and CMSIS-NN source lists for these make variables (paths relative to the tree)."""
    printer = "lanmsff_print_lists: ; @" + " && ".join(f"echo {name}: $({name})" for name in LISTS)
    command = ["make", "-s", "-f", str(tree.makefile), f"--eval={printer}", "lanmsff_print_lists",
               *(f"{k}={v}" for k, v in variables.items())]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(command, cwd=tree.root, capture_output=True, text=True, env=env)
    lists = {}
    for line in result.stdout.splitlines():
        name, _, files = line.partition(":")
        if name in LISTS:
            lists[name] = files.split()
    if result.returncode != 0 or set(lists) != set(LISTS):
        return None
    return lists


def registrations(tree, methods):
    """The ``Register_X`` functions the resolver's ``methods`` (``AddConv2D``…) call; None if one is not found."""
    header = _text(Path(tree.root) / RESOLVER_HEADER)
    starts = [(m.start(), m.group(1)) for m in _METHOD.finditer(header)] + [(len(header), None)]
    calls = {}
    for (start, method), (end, _) in zip(starts, starts[1:]):
        calls.setdefault(method, set()).update(_REGISTRATION_CALL.findall(header[start:end]))
    if any(not calls.get(method) for method in methods):
        return None
    return set().union(*(calls[method] for method in methods))


def _headers_of(source):
    """The headers that declare what a helper source defines: ``conv_common.cc`` → ``conv.h``, ``conv_common.h``."""
    path = Path(source)
    stems = {path.stem, path.stem.removesuffix("_common")}
    return {str(path.with_name(stem + ".h")) for stem in stems}


def needed_kernels(tree, kernel_files, framework_files, needed):
    """Kernel files that define a needed registration, and the helpers (files registering no op) whose header
    those files or the framework include, directly or through other kept files; None when a needed
    registration is defined in none of them."""
    registering, helpers, defined = [], [], set()
    for name in kernel_files:
        names = set(_REGISTRATION_DEF.findall(_text(Path(tree.root) / name)))
        defined |= names
        if names & needed:
            registering.append(name)
        elif not names:
            helpers.append(name)
    if not needed <= defined:
        return None
    included, kept, pending = set(), set(registering), [*framework_files, *registering]
    while pending:
        path = Path(tree.root) / pending.pop()
        for header in _INCLUDE.findall(_text(path)) if path.is_file() else ():
            if header not in included:
                included.add(header)
                pending.append(header)
        for helper in helpers:
            if helper not in kept and _headers_of(helper) & included:
                kept.add(helper)
                pending.append(helper)
    return [name for name in kernel_files if name in kept]


def needed_cmsis_nn(tree, cmsis_files, kernel_files):
    """The CMSIS-NN sources defining what the kept kernels use, closed over what those sources use in turn."""
    texts = {name: _text(Path(tree.root) / name) for name in cmsis_files}
    definer = {}
    for name, text in texts.items():
        for symbol in _C_FUNCTION_DEF.findall(text) + _C_TABLE_DEF.findall(text):
            definer.setdefault(symbol, name)
    wanted = set()
    pending = [_text(Path(tree.root) / name) for name in kernel_files]
    while pending:
        for symbol in set(_IDENTIFIER.findall(pending.pop())):
            source = definer.get(symbol)
            if source is not None and source not in wanted:
                wanted.add(source)
                pending.append(texts[source])
    return [name for name in cmsis_files if name in wanted]


def select(tree, variables, methods):
    """Make variables that restrict the library to ``methods``' kernels, or None to build everything."""
    lists = makefile_lists(tree, variables)
    needed = registrations(tree, methods) if lists else None
    kernels = needed_kernels(tree, lists[KERNEL_LIST], lists[FRAMEWORK_LIST], needed) if needed else None
    if kernels is None:
        LOGGER.debug("every TFLM kernel is needed: the tree's sources do not show which files the ops need")
        return None
    cmsis_nn = needed_cmsis_nn(tree, lists[CMSIS_NN_LIST], kernels)
    LOGGER.debug(f"{len(kernels)} of {len(lists[KERNEL_LIST])} TFLM kernel files and {len(cmsis_nn)} of "
                 f"{len(lists[CMSIS_NN_LIST])} CMSIS-NN files for {len(methods)} ops")
    return {KERNEL_LIST: " ".join(kernels), CMSIS_NN_LIST: " ".join(cmsis_nn)}
