"""Which microcontroller boards can hold a model, and a rough latency ESTIMATE for each.

A TFLite Micro model needs flash for the model bytes plus the runtime code, and RAM for one contiguous tensor
arena plus the application's own data and stack. ``fits(flash_bytes, arena_bytes, board)`` checks both against
datasheet figures; ``estimate_latency(macs, board)`` turns a MAC count into milliseconds at a stated
MACs-per-cycle rate. The latency is an estimate from a rule of thumb, never a measurement: real numbers depend on
the kernels (CMSIS-NN vs reference), cache and memory wait states, and the ops that do no MACs.
"""
from dataclasses import dataclass

KB = 1024
MB = 1024 * KB

# Flash taken by the TFLM interpreter, the kernels a CNN like LANMSFF registers (CMSIS-NN builds) and a minimal
# application. An assumption (TFLM's person_detection example is of this order); override per call.
DEFAULT_CODE_FLASH = 160 * KB
# RAM the application needs besides the arena: .data/.bss of TFLM and the app, stack, interpreter object.
DEFAULT_RAM_RESERVE = 32 * KB

# int8 multiply-accumulates per clock cycle a whole CNN sustains with optimized kernels: an ESTIMATE, calibrated
# on LANMSFF built with TFLM + CMSIS-NN and run on emulated cores (benchmarks/mcu_emulation.py): 2.16-2.18
# instructions per MAC on Cortex-M4 and M7 alike (the same Thumb-2 + DSP code). QEMU counts instructions, not
# cycles, so a cycles-per-instruction figure is assumed on top: 1.0 on single-issue M4 / M33 (0.46 MAC/cycle),
# 0.77 on dual-issue M7 (0.6 MAC/cycle; Arm quotes up to 2 instructions per cycle, memory stalls eat some).
# Cortex-M0+ (no DSP/SIMD, reference kernels): 0.1 (not calibrated).
# Xtensa LX7 (ESP32-S3 with ESP-NN): ESP-NN's README reports 8-14x over its portable C kernels for 1x1 convolutions
#   (portable C runs ~0.1 MAC/cycle), so ~1.0 for a whole network (not calibrated).
MACS_PER_CYCLE = {
    "Cortex-M7": 0.6,
    "Cortex-M4": 0.46,
    "Cortex-M33": 0.46,
    "Cortex-M0+": 0.1,
    "Xtensa LX7": 1.0,
}
KERNELS = {"Cortex-M7": "CMSIS-NN", "Cortex-M4": "CMSIS-NN", "Cortex-M33": "CMSIS-NN", "Cortex-M0+": "reference",
           "Xtensa LX7": "ESP-NN"}


@dataclass(frozen=True)
class Board:
    """Datasheet memory and core of one board. ``ram_block`` is the largest contiguous SRAM region: a TFLM
    arena is one array, so it must fit there. ``flash_external`` marks QSPI flash executed in place (slower)."""

    key: str
    name: str
    core: str
    clock_mhz: int
    ram: int
    ram_block: int
    flash: int
    flash_external: bool = False
    psram: int = 0
    note: str = ""
    source: str = ""

    @property
    def macs_per_cycle(self):
        return MACS_PER_CYCLE[self.core]


BOARDS = (
    # ST DS12110 (STM32H742/743/753): up to 1 MB RAM = 192 KB TCM (64 ITCM + 128 DTCM) + 864 KB user SRAM
    # (AXI SRAM 512 KB, SRAM1/2/3 128+128+32 KB in D2, SRAM4 64 KB) + 4 KB backup; 2 MB flash; Cortex-M7 480 MHz.
    Board("stm32h743", "STM32H743 (NUCLEO-H743ZI2)", "Cortex-M7", 480, 1 * MB, 512 * KB, 2 * MB,
          note="largest contiguous SRAM is the 512 KB AXI SRAM; the rest is split over 5 regions",
          source="https://www.st.com/resource/en/datasheet/stm32h743zi.pdf"),
    # ST DS10916 (STM32F745/746): 320 KB SRAM (64 KB DTCM + 240 KB SRAM1 + 16 KB SRAM2, contiguous from
    # 0x20000000), 1 MB flash, Cortex-M7 216 MHz.
    Board("stm32f746", "STM32F746 (32F746GDISCOVERY)", "Cortex-M7", 216, 320 * KB, 320 * KB, 1 * MB,
          source="https://www.st.com/resource/en/datasheet/stm32f746ng.pdf"),
    # Espressif ESP32-S3 datasheet: 512 KB SRAM, 384 KB ROM, dual Xtensa LX7 240 MHz, no internal flash;
    # ESP32-S3-DevKitC-1 N8R8: 8 MB quad flash + 8 MB octal PSRAM. ESP-IDF keeps part of the SRAM for
    # IRAM/cache/Wi-Fi, so the largest internal block an app gets is well under 512 KB (assumed 300 KB here;
    # check heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL) on the device).
    Board("esp32s3", "ESP32-S3 (ESP32-S3-DevKitC-1 N8R8)", "Xtensa LX7", 240, 512 * KB, 300 * KB, 8 * MB,
          flash_external=True, psram=8 * MB,
          note="internal block is an assumption (IDF reserves IRAM/cache); an arena in PSRAM works but runs slower",
          source="https://www.espressif.com/sites/default/files/documentation/esp32-s3_datasheet_en.pdf"),
    # Nordic nRF5340 product specification: application core Cortex-M33 128 MHz with 1 MB flash and 512 KB RAM
    # (the network core's 256 KB flash / 64 KB RAM is not counted).
    Board("nrf5340", "nRF5340 (nRF5340 DK, application core)", "Cortex-M33", 128, 512 * KB, 512 * KB, 1 * MB,
          source="https://docs.nordicsemi.com/bundle/ps_nrf5340/page/keyfeatures_html5.html"),
    # Raspberry Pi RP2040 datasheet: dual Cortex-M0+ 133 MHz, 264 KB SRAM in six banks (4 x 64 KB striped +
    # 2 x 4 KB), no internal flash; Raspberry Pi Pico: 2 MB QSPI flash.
    Board("rp2040", "RP2040 (Raspberry Pi Pico)", "Cortex-M0+", 133, 264 * KB, 256 * KB, 2 * MB,
          flash_external=True, note="no DSP instructions: reference kernels only",
          source="https://datasheets.raspberrypi.com/rp2040/rp2040-datasheet.pdf"),
    # NXP i.MX RT1060 datasheet / PJRC Teensy 4.1: Cortex-M7 600 MHz, 1 MB on-chip RAM = 512 KB FlexRAM
    # (ITCM/DTCM, "RAM1") + 512 KB OCRAM ("RAM2"); Teensy 4.1: 8 MB QSPI flash, pads for 8-16 MB PSRAM.
    Board("imxrt1062", "i.MX RT1062 (Teensy 4.1)", "Cortex-M7", 600, 1 * MB, 512 * KB, 8 * MB,
          flash_external=True, psram=8 * MB,
          note="RAM is two 512 KB halves (tightly coupled RAM1 shared with code, OCRAM RAM2); "
               "PSRAM is a solder-on option",
          source="https://www.pjrc.com/store/teensy41.html"),
    # Arduino Nano 33 BLE (Sense): nRF52840, Cortex-M4F 64 MHz, 1 MB flash, 256 KB RAM.
    Board("nano33ble", "Arduino Nano 33 BLE (nRF52840)", "Cortex-M4", 64, 256 * KB, 256 * KB, 1 * MB,
          source="https://docs.arduino.cc/hardware/nano-33-ble/"),
)

_BY_KEY = {board.key: board for board in BOARDS}


def get_board(key):
    from lanmsff_edge.errors import UserError

    board = _BY_KEY.get(str(key).lower().replace("-", "").replace("_", ""))
    if board is None:
        raise UserError(f"unknown board '{key}' (known: {', '.join(_BY_KEY)})")
    return board


@dataclass(frozen=True)
class Fit:
    """Verdict for one board: ``fits`` in on-chip memory; ``fits_with_psram`` when only external RAM holds the
    arena; ``reason`` says what is short when it does not fit."""

    board: Board
    flash_needed: int
    ram_needed: int
    arena: int
    fits: bool
    fits_with_psram: bool
    reason: str

    @property
    def verdict(self):
        if self.fits:
            return "fits"
        if self.fits_with_psram:
            return "fits with PSRAM"
        return "does not fit"

    def as_dict(self):
        return {"board": self.board.key, "name": self.board.name, "verdict": self.verdict, "fits": self.fits,
                "fits_with_psram": self.fits_with_psram, "flash_needed": self.flash_needed,
                "ram_needed": self.ram_needed, "flash": self.board.flash, "ram": self.board.ram,
                "ram_block": self.board.ram_block, "reason": self.reason}


def _kb(value):
    return f"{value / KB:,.0f} KB"


def fits(flash_bytes, arena_bytes, board, code_flash=DEFAULT_CODE_FLASH, ram_reserve=DEFAULT_RAM_RESERVE):
    """Can ``board`` (a ``Board`` or its key) hold a model of ``flash_bytes`` with an arena of ``arena_bytes``?

    Flash needed = model + ``code_flash``; RAM needed = arena + ``ram_reserve``, and the arena alone must fit
    in the largest contiguous SRAM region.
    """
    board = board if isinstance(board, Board) else get_board(board)
    flash_needed = int(flash_bytes) + int(code_flash)
    ram_needed = int(arena_bytes) + int(ram_reserve)
    problems = []
    if flash_needed > board.flash:
        problems.append(f"flash: needs {_kb(flash_needed)} (model + ~{_kb(code_flash)} code), has {_kb(board.flash)}")
    ram_short = []
    if ram_needed > board.ram:
        ram_short.append(f"RAM: needs {_kb(ram_needed)} (arena + ~{_kb(ram_reserve)} app), has {_kb(board.ram)}")
    elif arena_bytes > board.ram_block:
        ram_short.append(f"RAM: the {_kb(arena_bytes)} arena exceeds the largest contiguous SRAM region "
                         f"({_kb(board.ram_block)})")
    on_chip = not problems and not ram_short
    with_psram = not on_chip and not problems and board.psram >= arena_bytes
    reason = "; ".join(problems + ram_short)
    if with_psram:
        reason += f" (an arena in the board's {_kb(board.psram)} PSRAM would hold it, slower)"
    return Fit(board, flash_needed, ram_needed, int(arena_bytes), on_chip, with_psram, reason)


def fit_table(flash_bytes, arena_bytes, boards=BOARDS, **kwargs):
    """``fits`` for every board of the table, in table order."""
    return [fits(flash_bytes, arena_bytes, board, **kwargs) for board in boards]


def estimate_latency(macs, board, macs_per_cycle=None):
    """ESTIMATED milliseconds per inference: ``macs`` / (MACs per cycle × clock). Returns a dict that always
    carries ``"estimate": True`` and the assumption used, so no report can mistake it for a measurement."""
    board = board if isinstance(board, Board) else get_board(board)
    rate = float(macs_per_cycle or board.macs_per_cycle)
    cycles = float(macs) / rate
    return {
        "board": board.key,
        "estimate": True,
        "cycles": int(round(cycles)),
        "ms": cycles / (board.clock_mhz * 1e3),
        "macs_per_cycle": rate,
        "assumption": f"{rate:g} int8 MAC/cycle on {board.core} @ {board.clock_mhz} MHz with "
                      f"{KERNELS[board.core]} kernels; MAC-free ops and memory stalls not modelled",
    }
