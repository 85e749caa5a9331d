/* Bare-metal start-up for the QEMU Arm machines lanmsff-edge emulates (mps2-an386, mps2-an500, mps3-an547):
 * vector table, reset handler (FPU on, .data copied, .bss zeroed, C++ constructors), faults reported over
 * semihosting with exit status 3, and a SysTick wrap counter for the instruction clock.
 * Written by lanmsff-edge; not part of a board's firmware. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__, __StackTop;
extern void (*__preinit_array_start[])(void);
extern void (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
extern int main(void);
extern void initialise_monitor_handles(void); /* newlib's rdimon: semihosting stdio */

void Reset_Handler(void);
void Default_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

volatile uint32_t g_systick_wraps = 0;

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16 + 48])(void) = {
    (void (*)(void))(&__StackTop), Reset_Handler, Default_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
    [16 ... 63] = Default_Handler,
};

static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static void fail(const char *message) {
  static const uint32_t exit_args[2] = {0x20026 /* ADP_Stopped_ApplicationExit */, 3};
  semihost(0x04 /* SYS_WRITE0 */, message);
  semihost(0x20 /* SYS_EXIT_EXTENDED */, exit_args);
  for (;;) {
  }
}

void Fault_Handler(void) { fail("\n@emu fault HardFault/MemManage/BusFault/UsageFault\n"); }
void Default_Handler(void) { fail("\n@emu fault unexpected exception\n"); }
void SysTick_Handler(void) { g_systick_wraps++; }

void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  /* CPACR: CP10/CP11 full access (the FPU, and Helium/MVE, which uses the same enable even without an FPU) */
  *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  uint32_t *source = &__data_load__, *target = &__data_start__;
  while (target < &__data_end__) *target++ = *source++;
  for (target = &__bss_start__; target < &__bss_end__;) *target++ = 0;
  initialise_monitor_handles();
  for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)();
  exit(main());
}

/* -nostartfiles: no crti/crtn, but newlib may call these. */
void _init(void) {}
void _fini(void) {}
