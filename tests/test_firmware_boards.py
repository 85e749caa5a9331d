"""boards: the fit rules (flash, total RAM, largest contiguous block, PSRAM) and the labelled latency estimate."""
import pytest

from lanmsff_edge import boards
from lanmsff_edge.boards import KB, MB, estimate_latency, fit_table, fits, get_board
from lanmsff_edge.errors import UserError


def test_table_has_the_datasheet_figures():
    h743 = get_board("stm32h743")
    assert (h743.core, h743.clock_mhz, h743.ram, h743.ram_block, h743.flash) == ("Cortex-M7", 480, MB, 512 * KB,
                                                                                  2 * MB)
    f746 = get_board("STM32F746")
    assert (f746.ram, f746.flash, f746.clock_mhz) == (320 * KB, MB, 216)
    assert get_board("nano33ble").ram == 256 * KB and get_board("nano-33-ble").core == "Cortex-M4"
    assert get_board("rp2040").ram == 264 * KB and get_board("rp2040").flash_external
    assert get_board("esp32s3").psram == 8 * MB and get_board("imxrt1062").clock_mhz == 600
    assert get_board("nrf5340").core == "Cortex-M33"
    assert all(board.source.startswith("https://") for board in boards.BOARDS)
    assert all(board.ram_block <= board.ram for board in boards.BOARDS)


def test_unknown_board_is_a_user_error():
    with pytest.raises(UserError, match="unknown board 'esp8266'.*stm32h743"):
        get_board("esp8266")


def test_small_model_fits_everywhere():
    assert all(verdict.fits and verdict.reason == "" for verdict in fit_table(70 * KB, 190 * KB))


def test_arena_larger_than_the_largest_sram_block_does_not_fit_even_if_total_ram_would():
    verdict = fits(430 * KB, 600 * KB, "stm32h743")  # 1 MB RAM in total, but the AXI SRAM block is 512 KB
    assert not verdict.fits and not verdict.fits_with_psram
    assert "largest contiguous SRAM region (512 KB)" in verdict.reason
    teensy = fits(430 * KB, 600 * KB, "imxrt1062")
    assert not teensy.fits and teensy.fits_with_psram and teensy.verdict == "fits with PSRAM"


def test_flash_and_ram_shortfalls_are_both_reported():
    verdict = fits(950 * KB, 300 * KB, "nano33ble")
    assert not verdict.fits
    assert "flash: needs" in verdict.reason and "RAM: needs" in verdict.reason
    assert verdict.flash_needed == 950 * KB + boards.DEFAULT_CODE_FLASH
    assert verdict.ram_needed == 300 * KB + boards.DEFAULT_RAM_RESERVE
    assert fits(950 * KB, 300 * KB, "nano33ble", code_flash=0, ram_reserve=0).reason.startswith("RAM")


def test_boundaries_are_inclusive():
    board = get_board("stm32f746")
    exact = fits(board.flash - 1000, board.ram - 1000, board, code_flash=1000, ram_reserve=1000)
    assert exact.fits
    assert not fits(board.flash - 999, board.ram - 1000, board, code_flash=1000, ram_reserve=1000).fits


def test_latency_is_labelled_as_an_estimate_with_its_assumption():
    estimate = estimate_latency(300_000_000, "stm32h743")
    assert estimate["estimate"] is True
    assert estimate["ms"] == pytest.approx(300e6 / 0.6 / 480e6 * 1000)
    assert "0.6 int8 MAC/cycle" in estimate["assumption"] and "CMSIS-NN" in estimate["assumption"]
    m4 = estimate_latency(300_000_000, "nano33ble")
    assert m4["macs_per_cycle"] == 0.46 and m4["ms"] == pytest.approx(300e6 / 0.46 / 64e6 * 1000)
    assert estimate_latency(300_000_000, "rp2040")["assumption"].count("reference") == 1
    assert estimate_latency(1_000, "stm32h743", macs_per_cycle=2.0)["cycles"] == 500
    assert boards.MACS_PER_CYCLE["Cortex-M7"] > boards.MACS_PER_CYCLE["Cortex-M4"] > boards.MACS_PER_CYCLE[
        "Cortex-M0+"]
