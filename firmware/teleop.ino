/*
 * teleop firmware: the Arduino end of the teleop loop.
 *
 * Speaks the line protocol in protocol.h: one command per line, exactly one
 * reply per line, key:value reports at a configurable rate, a watchdog
 * that puts every output at neutral when the host goes quiet for 500 ms, and
 * the realtime stop byte (0x18). Nothing here blocks: no delay(), no String,
 * no readStringUntil/parseInt (their 1 s timeouts would starve the watchdog).
 * The rules live in commands.c, which also compiles and is tested on the host.
 *
 * The UART is driven here rather than by Arduino's Serial so that the stop byte
 * is acted on in the receive interrupt itself, as grbl does: the servo, PWM and
 * LED pins are at neutral within microseconds of the byte, whatever the main
 * loop is doing (even waiting to send a long reply). The byte still goes into
 * the receive queue, so the main loop applies the same rule (receive_byte) in
 * order: lines received before it are answered, the partial line is dropped,
 * and "EVT stop neutral" is printed. Until the main loop has done that, it
 * writes neutral instead of whatever an earlier line asked for.
 *
 * Optional hardware from the original hobby build, off by default so the
 * default build needs only the Arduino core:
 *   -DTELEOP_NEOPIXEL   8-pixel strip on pin 13 shows the LED bitmask (Adafruit_NeoPixel)
 *   -DTELEOP_SEVENSEG   7-segment backpack at I2C 0x70 shows the display value (Adafruit_LEDBackpack)
 */
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/wdt.h>
#include <util/atomic.h>

#include "commands.h"

#ifdef TELEOP_NEOPIXEL
#include <Adafruit_NeoPixel.h>
static Adafruit_NeoPixel pixels(8, 13, NEO_GRB + NEO_KHZ800);
#endif
#ifdef TELEOP_SEVENSEG
#include <Adafruit_LEDBackpack.h>
static Adafruit_7segment segments;
#endif

#ifndef TELEOP_BAUD
#define TELEOP_BAUD 115200
#endif

/* Servos on Timer1's compare outputs: hardware pulses, no interrupts, no jitter. */
#if defined(__AVR_ATmega2560__) || defined(__AVR_ATmega1280__)
static const uint8_t SERVO_PINS[2] = {11, 12};  // OC1A, OC1B on a Mega
#else
static const uint8_t SERVO_PINS[2] = {9, 10};  // OC1A, OC1B on an Uno / Nano / Pro Mini (ATmega328P)
#endif
static const uint8_t PWM_PINS[2] = {5, 6};
/* The pins above serve the protocol table's channels: O0, O1 servos, O2, O3 PWM. */
static_assert(TELEOP_CHANNELS == 4, "teleop.ino drives two servos then two PWM pins: update the pins with the channel table");
static const uint8_t BUTTON_PIN = 2;
static const uint8_t LED_PIN = LED_BUILTIN;  // without a NeoPixel strip, bit 0 of the mask lights the on-board LED


/* Timer1 fast PWM, TOP = ICR1: 16 MHz / 8 = 0.5 us per tick, 40000 ticks = a 20 ms servo frame. */
static void servo_timer_init()
{
    TCCR1A = _BV(COM1A1) | _BV(COM1B1) | _BV(WGM11);
    TCCR1B = _BV(WGM13) | _BV(WGM12) | _BV(CS11);
    ICR1 = (uint16_t)(F_CPU / 8 / 50) - 1;
}

static void servo_write_us(uint8_t channel, int16_t microseconds)
{
    uint16_t ticks = (uint16_t)((uint32_t)microseconds * (F_CPU / 1000000UL) / 8);
    if (channel == 0)
        OCR1A = ticks;
    else
        OCR1B = ticks;
}
static device_state state;
static device_state neutral_state;  /* what the stop byte writes from the interrupt */
static line_buffer line;
static uint32_t next_report_ms;
static char output[TELEOP_OUTPUT_SIZE];
static char report[TELEOP_MAX_REPORT + 1];

/* Stop bytes the interrupt has queued and the main loop not yet taken: while non-zero, apply_outputs writes
 * neutral rather than what an earlier line asked for. */
static volatile uint8_t stops_pending;

/* The pins only: fast, so the receive interrupt can call it. */
static void write_pins(const device_state *s)
{
    for (uint8_t i = 0; i < 2; i++)
        servo_write_us(i, s->outputs[i]);
    for (uint8_t i = 0; i < 2; i++)
        analogWrite(PWM_PINS[i], s->outputs[2 + i]);
#ifndef TELEOP_NEOPIXEL
    digitalWrite(LED_PIN, (s->leds & 1) ? HIGH : LOW);
#endif
}

static void apply_outputs()
{
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        write_pins(stops_pending ? &neutral_state : &state);
    }
    const device_state *shown = stops_pending ? &neutral_state : &state;
#ifdef TELEOP_NEOPIXEL
    for (uint8_t i = 0; i < 8; i++)
        pixels.setPixelColor(i, (shown->leds & (1 << i)) ? pixels.Color(50, 0, 0) : 0);
    pixels.show();
#endif
#ifdef TELEOP_SEVENSEG
    segments.print(shown->display, DEC);
    segments.writeDisplay();
#endif
    (void)shown;
}

/* ---- UART 0, interrupt driven, 8N1 ---- */
#if defined(USART0_RX_vect)
#define UART_RX_VECT USART0_RX_vect
#define UART_UDRE_VECT USART0_UDRE_vect
#else
#define UART_RX_VECT USART_RX_vect
#define UART_UDRE_VECT USART_UDRE_vect
#endif

#define RX_SIZE 64  /* powers of two: the indices wrap with a mask */
#define TX_SIZE 64
static volatile uint8_t rx_buffer[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buffer[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;

static void uart_begin(uint32_t baud)
{
    UCSR0A = _BV(U2X0);
    uint16_t divisor = (uint16_t)((F_CPU / 4 / baud - 1) / 2);
    UBRR0H = (uint8_t)(divisor >> 8);
    UBRR0L = (uint8_t)divisor;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

ISR(UART_RX_VECT)
{
    uint8_t byte = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) & (RX_SIZE - 1));
    if (byte == TELEOP_STOP_BYTE) {
        write_pins(&neutral_state);  /* neutral now; the main loop does the rest in order */
        if (next == rx_tail) {
            /* Queue full (the host overran us): the stop must not be lost, so it replaces what was waiting. */
            rx_tail = rx_head;
            next = (uint8_t)((rx_head + 1) & (RX_SIZE - 1));
            stops_pending = 0;
        }
        stops_pending++;
    } else if (next == rx_tail) {
        return;  /* overrun: dropped, as a real UART would */
    }
    rx_buffer[rx_head] = byte;
    rx_head = next;
}

/* The next received byte, or -1. stops_pending counts the stop bytes still queued, so it drops as one is taken. */
static int16_t uart_read()
{
    int16_t byte = -1;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        if (rx_head != rx_tail) {
            byte = rx_buffer[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) & (RX_SIZE - 1));
            if (byte == TELEOP_STOP_BYTE)
                stops_pending--;
        }
    }
    return byte;
}

ISR(UART_UDRE_VECT)
{
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_buffer[tx_tail];
    tx_tail = (uint8_t)((tx_tail + 1) & (TX_SIZE - 1));
}

static void uart_put(uint8_t byte)
{
    uint8_t next = (uint8_t)((tx_head + 1) & (TX_SIZE - 1));
    while (next == tx_tail)
        wdt_reset();  /* full: the UDRE interrupt drains it at line speed */
    tx_buffer[tx_head] = byte;
    tx_head = next;
    UCSR0B |= _BV(UDRIE0);
}

static void uart_print(const char *text)
{
    while (*text)
        uart_put((uint8_t)*text++);
}

static void uart_print_P(const char *text)  /* text in flash (PSTR) */
{
    for (char c; (c = (char)pgm_read_byte(text)); text++)
        uart_put((uint8_t)c);
}

void setup()
{
    MCUSR = 0;
    wdt_disable();
    state_init(&state, millis());
    state_neutral(&neutral_state);
    line_reset(&line);
    pinMode(BUTTON_PIN, INPUT_PULLUP);
    pinMode(LED_PIN, OUTPUT);
    for (uint8_t i = 0; i < 2; i++)
        pinMode(SERVO_PINS[i], OUTPUT);
    servo_timer_init();
    for (uint8_t i = 0; i < 2; i++)
        pinMode(PWM_PINS[i], OUTPUT);
#ifdef TELEOP_NEOPIXEL
    pixels.begin();
#endif
#ifdef TELEOP_SEVENSEG
    segments.begin(0x70);
#endif
    apply_outputs();
    uart_begin(TELEOP_BAUD);  /* interrupts are on (the core's init), so bytes arrive from here */
    uart_print_P(PSTR("READY " TELEOP_FIRMWARE_NAME " " TELEOP_FIRMWARE_VERSION "\n"));
    next_report_ms = millis() + state.report_ms;
    wdt_enable(WDTO_1S);  // a hung sketch resets the board (and so comes back with neutral outputs)
}

static void handle_byte(uint8_t byte)
{
    uint16_t previous_rate = state.report_ms;
    enum input_result result = receive_byte(&state, &line, byte, millis(), output, sizeof output);
    if (result == INPUT_NONE)
        return;
    apply_outputs();  /* after a stop: neutral, from the state receive_byte has just set */
    if (state.report_ms != previous_rate)
        next_report_ms = millis() + state.report_ms;
    uart_print(output);
}

void loop()
{
    wdt_reset();
    // Bounded work per pass so a flood of bytes cannot starve the watchdog or the reports.
    for (uint8_t n = 0; n < 64; n++) {
        int16_t byte = uart_read();
        if (byte < 0)
            break;
        handle_byte((uint8_t)byte);
    }

    uint32_t now = millis();
    if (watchdog_poll(&state, now)) {
        apply_outputs();
        uart_print_P(PSTR(TELEOP_EVT_WATCHDOG_NEUTRAL "\n"));
    }
    if (state.report_ms && (int32_t)(now - next_report_ms) >= 0) {
        int16_t analog[TELEOP_ANALOG_INPUTS];
        for (uint8_t i = 0; i < TELEOP_ANALOG_INPUTS; i++)
            analog[i] = analogRead(A0 + i);
        format_report(&state, analog, digitalRead(BUTTON_PIN) == LOW ? 1 : 0, report, sizeof report);
        uart_print(report);
        uart_put('\n');
        next_report_ms += state.report_ms;
        if ((int32_t)(now - next_report_ms) > (int32_t)state.report_ms)
            next_report_ms = now + state.report_ms;  // fell far behind: skip, never burst
    }
}
