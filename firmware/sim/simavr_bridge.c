/*
 * Runs the real teleop firmware ELF in simavr, with its UART on a pseudo-terminal
 * that teleop-server (or any serial program) opens like a USB port.
 *
 *   simavr-bridge FIRMWARE.elf --link /tmp/robot [--mcu atmega328p] [--freq 16000000] [--trace]
 *
 * The simulation is paced to real time (simavr would otherwise run faster,
 * and the firmware's 500 ms watchdog would mean nothing). Tests steer it
 * through stdin, one command per line:
 *   adc N MILLIVOLTS     set analog input N (0..5000 mV; 1023 at 5 V)
 *   button 0|1           press (1) or release the button on pin 2
 *   pins                 print "pins B=.. C=.. D=.. OCR1A=.. OCR1B=.." (port and servo-timer registers)
 *   quit
 * and it prints "ready PTY" once the pty exists.
 *
 * --trace (ATmega328P pin map) also prints, with the simulated cycle count, every byte the
 * UART receives and every change of the outputs as the pins see them, so tests can time the
 * firmware in simulated cycles (immune to how busy the host machine is):
 *   rx CYCLE 0xNN        the byte entered simavr's UART (it then takes its wire time, queued behind earlier bytes)
 *   got CYCLE 0xNN       the firmware's receive interrupt started for that byte: it has arrived
 *   out CYCLE O0=US O1=US O2=DUTY O3=DUTY led=0|1
 * O0/O1 are Timer1's compare registers in microseconds (0 when the pin is disconnected from
 * the timer); O2/O3 are pins 5/6: the Timer0 duty when PWM drives them, else 0 or 255 from the
 * port bit; led is pin 13.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_ioport.h>
#include <simavr/avr_uart.h>
#include <simavr/parts/uart_pty.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>

static uart_pty_t uart;
/* The button is held externally: simavr re-drives an input pin from its pull-up bit whenever
 * the firmware writes that port (pins 5 and 6 share PORTD with the button), which a real
 * pull-up could never do against a pressed button. So the bridge keeps re-asserting it. */
static int button_pressed = 0;
static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig) { (void)sig; stopping = 1; }

/* ---- --trace ---- */
static int tracing = 0;
static char last_outputs[96];

/* Bytes in simavr's UART not yet taken by the firmware's receive interrupt, oldest first. */
static uint8_t in_flight[4096];
static unsigned in_flight_head, in_flight_tail;

static void trace_rx(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    avr_t *avr = param;
    in_flight[in_flight_head++ % sizeof in_flight] = (uint8_t)value;
    printf("rx %llu 0x%02x\n", (unsigned long long)avr->cycle, value & 0xFF);
    fflush(stdout);
}

/* USART_RX_vect (18 on the ATmega328P) starts running: the firmware is handed the oldest byte. */
static void trace_rx_interrupt(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    avr_t *avr = param;
    if (!value || in_flight_tail == in_flight_head)
        return;
    printf("got %llu 0x%02x\n", (unsigned long long)avr->cycle, in_flight[in_flight_tail++ % sizeof in_flight]);
    fflush(stdout);
}

static unsigned pwm_pin(avr_t *avr, uint8_t com_bit, uint16_t ocr, uint8_t port_bit)
{
    if (avr->data[0x44] & com_bit) /* TCCR0A: the timer drives the pin */
        return avr->data[ocr];
    return (avr->data[0x2B] & port_bit) ? 255 : 0; /* PORTD */
}

static void trace_outputs(avr_t *avr)
{
    /* the registers behind the outputs: TCCR1A, OCR1A, OCR1B, TCCR0A, OCR0A, OCR0B, PORTD, PORTB */
    static const uint16_t watched[] = {0x80, 0x88, 0x89, 0x8A, 0x8B, 0x44, 0x47, 0x48, 0x2B, 0x25};
    static uint8_t seen[sizeof watched / sizeof watched[0]];
    static int primed = 0;
    int changed = !primed;
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++) {
        if (avr->data[watched[i]] != seen[i]) {
            seen[i] = avr->data[watched[i]];
            changed = 1;
        }
    }
    primed = 1;
    if (!changed)
        return;
    double us_per_tick = 8e6 / avr->frequency; /* Timer1 prescaler 8 */
    uint8_t tccr1a = avr->data[0x80];
    unsigned o0 = (tccr1a & 0x80) ? (unsigned)((avr->data[0x88] | (avr->data[0x89] << 8)) * us_per_tick + 0.5) : 0;
    unsigned o1 = (tccr1a & 0x20) ? (unsigned)((avr->data[0x8A] | (avr->data[0x8B] << 8)) * us_per_tick + 0.5) : 0;
    char now[96];
    snprintf(now, sizeof now, "O0=%u O1=%u O2=%u O3=%u led=%u", o0, o1, pwm_pin(avr, 0x20, 0x48, 0x20), pwm_pin(avr, 0x80, 0x47, 0x40),
             (avr->data[0x25] >> 5) & 1);
    if (strcmp(now, last_outputs) != 0) {
        strcpy(last_outputs, now);
        printf("out %llu %s\n", (unsigned long long)avr->cycle, now);
        fflush(stdout);
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint8_t port_value(avr_t *avr, char name)
{
    avr_ioport_state_t state;
    if (avr_ioctl(avr, AVR_IOCTL_IOPORT_GETSTATE(name), &state) < 0)
        return 0;
    return state.port;
}

static void handle_command(avr_t *avr, char *line)
{
    int n = 0, value = 0;
    if (sscanf(line, "adc %d %d", &n, &value) == 2 && n >= 0 && n < 8) {
        avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + n), (uint32_t)value);
    } else if (sscanf(line, "button %d", &value) == 1) {
        button_pressed = value != 0;
    } else if (strncmp(line, "pins", 4) == 0) {
        unsigned ocr1a = avr->data[0x88] | (avr->data[0x89] << 8);
        unsigned ocr1b = avr->data[0x8A] | (avr->data[0x8B] << 8);
        printf("pins B=%02x C=%02x D=%02x OCR1A=%u OCR1B=%u\n", port_value(avr, 'B'), port_value(avr, 'C'), port_value(avr, 'D'),
               ocr1a, ocr1b);
        fflush(stdout);
    } else if (strncmp(line, "quit", 4) == 0) {
        stopping = 1;
    } else if (line[0]) {
        printf("error unknown command: %s\n", line);
        fflush(stdout);
    }
}

static void poll_stdin(avr_t *avr)
{
    static char buffer[256];
    static size_t length = 0;
    fd_set fds;
    struct timeval zero = {0, 0};
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    if (select(1, &fds, NULL, NULL, &zero) <= 0)
        return;
    ssize_t got = read(0, buffer + length, sizeof buffer - 1 - length);
    if (got <= 0) { /* stdin closed: the test harness went away */
        stopping = 1;
        return;
    }
    length += (size_t)got;
    buffer[length] = '\0';
    char *start = buffer, *newline;
    while ((newline = strchr(start, '\n'))) {
        *newline = '\0';
        handle_command(avr, start);
        start = newline + 1;
    }
    length = strlen(start);
    memmove(buffer, start, length + 1);
    if (length >= sizeof buffer - 1)
        length = 0;
}

int main(int argc, char **argv)
{
    const char *elf = NULL, *link_path = NULL, *mcu = "atmega328p";
    unsigned long freq = 16000000UL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc) link_path = argv[++i];
        else if (!strcmp(argv[i], "--mcu") && i + 1 < argc) mcu = argv[++i];
        else if (!strcmp(argv[i], "--freq") && i + 1 < argc) freq = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--trace")) tracing = 1;
        else elf = argv[i];
    }
    if (!elf) {
        fprintf(stderr, "usage: %s FIRMWARE.elf [--link PATH] [--mcu atmega328p] [--freq 16000000]\n", argv[0]);
        return 2;
    }
    elf_firmware_t firmware;
    memset(&firmware, 0, sizeof firmware);
    if (elf_read_firmware(elf, &firmware) != 0) {
        fprintf(stderr, "cannot read %s\n", elf);
        return 1;
    }
    avr_t *avr = avr_make_mcu_by_name(firmware.mmcu[0] ? firmware.mmcu : mcu);
    if (!avr) {
        fprintf(stderr, "unknown MCU %s\n", mcu);
        return 1;
    }
    avr_init(avr);
    avr->frequency = firmware.frequency ? firmware.frequency : freq;
    avr->vcc = avr->avcc = avr->aref = 5000;
    avr_load_firmware(avr, &firmware);
    avr->log = LOG_ERROR;

    uart_pty_init(avr, &uart);
    uart_pty_connect(&uart, '0');
    if (link_path) {
        unlink(link_path);
        if (symlink(uart.port[0].slavename, link_path) != 0) {
            fprintf(stderr, "cannot link %s: %s\n", link_path, strerror(errno));
            return 1;
        }
    }
    if (tracing)
        avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT), trace_rx, avr);
    if (tracing)
        avr_irq_register_notify(avr_get_interrupt_irq(avr, 18) + AVR_INT_IRQ_RUNNING, trace_rx_interrupt, avr);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    /* every analog input mid-scale, the button released, until told otherwise */
    for (int n = 0; n < 4; n++)
        avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + n), 2500);
    printf("ready %s\n", uart.port[0].slavename);
    fflush(stdout);

    double start = now_us();
    unsigned long steps = 0;
    int state = cpu_Running;
    while (!stopping && state != cpu_Done && state != cpu_Crashed) {
        state = avr_run(avr);
        if (tracing)
            trace_outputs(avr);
        if (++steps % 4096 == 0) {
            poll_stdin(avr);
            /* INPUT_PULLUP: pressed pulls the pin low */
            avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 2), button_pressed ? 0 : 1);
            double simulated = avr->cycle * 1e6 / avr->frequency;
            double ahead = simulated - (now_us() - start);
            if (ahead > 1000)
                usleep((useconds_t)ahead);
        }
    }
    /* No uart_pty_stop(): it joins simavr's pty thread, which can block for ever in its select loop.
     * Exiting closes the pty, which the host sees as an unplug, exactly as with a real board. */
    if (link_path)
        unlink(link_path);
    fflush(stdout);
    _exit(state == cpu_Crashed ? 1 : 0);
}
