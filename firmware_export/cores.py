"""The Arm cores a bundle can be built for and run on under QEMU: compiler flags, TFLM target, machine, memory.

Each entry names the ``TARGET_ARCH`` TFLite Micro's ``cortex_m_generic`` makefile builds the static library
with, the matching GCC flags (they must agree with ``cortex_m_generic_makefile.inc`` or the link mixes ABIs),
and a QEMU machine with its RAM regions, from which the linker script is written. M4 and M7 are hard-float
builds (the boards these cores sit on have an FPU); the int8 kernels are CMSIS-NN's (DSP on M4/M7, Helium MVE-I
on M55).
"""
from dataclasses import dataclass

from lanmsff_edge.errors import UserError

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True)
class Region:
    name: str
    origin: int
    length: int


@dataclass(frozen=True)
class Core:
    """One emulated core. ``vectors`` is where the reset vector table must sit (``None``: at the start of
    ``code``); ``code`` holds text and read-only data (the model array), ``ram`` data, bss (the arena), stack."""

    name: str
    machine: str
    tflm_arch: str
    gcc_flags: tuple
    defines: tuple
    code: Region
    ram: Region
    vectors: Region = None
    board_example: str = ""

    @property
    def cpu_define(self):
        return self.defines[0]


CORES = {
    "cortex-m4": Core(
        "cortex-m4", "mps2-an386", "cortex-m4+fp",
        ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), ("-DCPU_M4=1", "-DARMCM4_FP"),
        code=Region("SSRAM1", 0x00000000, 4 * MB), ram=Region("SSRAM23", 0x20000000, 4 * MB),
        board_example="nRF52840, STM32F4"),
    "cortex-m7": Core(
        "cortex-m7", "mps2-an500", "cortex-m7+fp",
        ("-mcpu=cortex-m7", "-mfpu=auto", "-mfloat-abi=hard"), ("-DCPU_M7=1", "-DARMCM7_DP"),
        code=Region("SSRAM1", 0x00000000, 4 * MB), ram=Region("SSRAM23", 0x20000000, 4 * MB),
        board_example="STM32H7, STM32F7, i.MX RT1062"),
    # SSE-300 (AN547): the reset vector table is read from the ITCM (512 KB at 0); code goes to the 2 MB SRAM
    # behind it and data to the 4 MB ISRAM (the 512 KB DTCM is too small for LANMSFF's unpatched arena).
    # Integer Helium (MVE-I) only: Debian's arm-none-eabi-gcc 12.2 emits MVE-FP code its assembler rejects
    # (`vcvtne.f32.s32`, in TFLM's resize_nearest_neighbor), and the int8 kernels need no floating point.
    "cortex-m55": Core(
        "cortex-m55", "mps3-an547", "cortex-m55+nofp",
        ("-mcpu=cortex-m55+nofp", "-mfpu=auto", "-mfloat-abi=softfp"), ("-DCPU_M55=1", "-DARMCM55"),
        code=Region("SRAM", 0x01000000, 2 * MB), ram=Region("ISRAM", 0x21000000, 4 * MB),
        vectors=Region("ITCM", 0x00000000, 512 * KB), board_example="Alif Ensemble E3, Arm Corstone-300"),
}


def get_core(name):
    core = CORES.get(str(name).strip().lower())
    if core is None:
        raise UserError(f"unknown core '{name}' (emulated cores: {', '.join(CORES)})")
    return core


def linker_script(core, stack_bytes=64 * KB):
    """A GNU ld script for ``core``'s QEMU machine: vectors, text + rodata, data (copied from its load address),
    bss (the tensor arena), then a painted stack at the top of RAM whose high-water mark the program reports."""
    memory = [core.code, core.ram] + ([core.vectors] if core.vectors else [])
    regions = "\n".join(f"  {r.name} (rwx) : ORIGIN = 0x{r.origin:08X}, LENGTH = 0x{r.length:X}" for r in memory)
    vector_region = (core.vectors or core.code).name
    return f"""/* {core.name} on QEMU -M {core.machine}; written by lanmsff-edge. */
MEMORY
{{
{regions}
}}
ENTRY(Reset_Handler)
__stack_size__ = 0x{stack_bytes:X};
SECTIONS
{{
  .isr_vector : {{ KEEP(*(.isr_vector)) }} > {vector_region}
  .text : ALIGN(16)
  {{
    *(.text*)
    KEEP(*(.init))
    KEEP(*(.fini))
    *(.rodata*)
    . = ALIGN(4);
  }} > {core.code.name}
  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {core.code.name}
  .ARM.exidx : {{ __exidx_start = .; *(.ARM.exidx* .gnu.linkonce.armexidx.*) __exidx_end = .; }} > {core.code.name}
  .preinit_array : ALIGN(4)
  {{ __preinit_array_start = .; KEEP(*(.preinit_array)) __preinit_array_end = .; }} > {core.code.name}
  .init_array : ALIGN(4)
  {{ __init_array_start = .; KEEP(*(SORT(.init_array.*))) KEEP(*(.init_array)) __init_array_end = .; }} \
> {core.code.name}
  .fini_array : ALIGN(4)
  {{ __fini_array_start = .; KEEP(*(SORT(.fini_array.*))) KEEP(*(.fini_array)) __fini_array_end = .; }} \
> {core.code.name}
  .data : ALIGN(8)
  {{ __data_start__ = .; *(.data*) . = ALIGN(8); __data_end__ = .; }} > {core.ram.name} AT > {core.code.name}
  __data_load__ = LOADADDR(.data);
  .bss (NOLOAD) : ALIGN(16)
  {{ __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(8); __bss_end__ = .; }} > {core.ram.name}
  .heap (NOLOAD) : ALIGN(8)
  {{ end = .; __end__ = .; . = ORIGIN({core.ram.name}) + LENGTH({core.ram.name}) - __stack_size__; }} > {core.ram.name}
  .stack (NOLOAD) : ALIGN(8)
  {{ __StackLimit = .; . += __stack_size__; __StackTop = .; }} > {core.ram.name}
}}
"""
