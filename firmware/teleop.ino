/*
 * teleop firmware: the Arduino end of the teleop loop.
 *
 * Speaks the line protocol in protocol.h: one command per line, exactly one
 * reply per line, key:value reports at a configurable rate, and a watchdog
 * that puts every output at neutral when the host goes quiet for 500 ms.
 * Nothing here blocks: no delay(), no String, no readStringUntil/parseInt
 * (their 1 s timeouts would starve the watchdog). The rules live in
 * commands.c, which also compiles and is tested on the host.
 *
 * Optional hardware from the original hobby build, off by default so the
 * default build needs only the Arduino core:
 *   -DTELEOP_NEOPIXEL   8-pixel strip on pin 13 shows the LED bitmask (Adafruit_NeoPixel)
 *   -DTELEOP_SEVENSEG   7-segment backpack at I2C 0x70 shows the display value (Adafruit_LEDBackpack)
 */
#include <avr/wdt.h>

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
static line_buffer line;
static uint32_t next_report_ms;
static char reply[160];  /* the info reply is the longest, ~140 characters */
static char report[112];

static void apply_outputs()
{
    for (uint8_t i = 0; i < 2; i++)
        servo_write_us(i, state.outputs[i]);
    for (uint8_t i = 0; i < 2; i++)
        analogWrite(PWM_PINS[i], state.outputs[2 + i]);
#ifdef TELEOP_NEOPIXEL
    for (uint8_t i = 0; i < 8; i++)
        pixels.setPixelColor(i, (state.leds & (1 << i)) ? pixels.Color(50, 0, 0) : 0);
    pixels.show();
#else
    digitalWrite(LED_PIN, (state.leds & 1) ? HIGH : LOW);
#endif
#ifdef TELEOP_SEVENSEG
    segments.print(state.display, DEC);
    segments.writeDisplay();
#endif
}

void setup()
{
    MCUSR = 0;
    wdt_disable();
    Serial.begin(TELEOP_BAUD);
    state_init(&state, millis());
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
    Serial.print(F("READY " TELEOP_FIRMWARE_NAME " " TELEOP_FIRMWARE_VERSION "\n"));
    next_report_ms = millis() + state.report_ms;
    wdt_enable(WDTO_1S);  // a hung sketch resets the board (and so comes back with neutral outputs)
}

static void handle_byte(uint8_t byte)
{
    enum feed_result result = line_feed(&line, byte);
    if (result == LINE_PENDING || result == LINE_EMPTY)
        return;
    if (result == LINE_TOO_LONG) {
        error_reply(ERR_LINE_TOO_LONG, reply, sizeof reply);
    } else {
        uint16_t previous_rate = state.report_ms;
        if (handle_line(&state, line.text, reply, sizeof reply, millis()))
            Serial.print(F("EVT watchdog resume\n"));
        apply_outputs();
        if (state.report_ms != previous_rate)
            next_report_ms = millis() + state.report_ms;
    }
    Serial.print(reply);
    Serial.print('\n');
}

void loop()
{
    wdt_reset();
    // Bounded work per pass so a flood of bytes cannot starve the watchdog or the reports.
    for (uint8_t n = 0; n < 64 && Serial.available() > 0; n++)
        handle_byte((uint8_t)Serial.read());

    uint32_t now = millis();
    if (watchdog_poll(&state, now)) {
        apply_outputs();
        Serial.print(F("EVT watchdog neutral\n"));
    }
    if (state.report_ms && (int32_t)(now - next_report_ms) >= 0) {
        int16_t analog[4];
        for (uint8_t i = 0; i < 4; i++)
            analog[i] = analogRead(A0 + i);
        format_report(&state, analog, digitalRead(BUTTON_PIN) == LOW ? 1 : 0, report, sizeof report);
        Serial.print(report);
        Serial.print('\n');
        next_report_ms += state.report_ms;
        if ((int32_t)(now - next_report_ms) > (int32_t)state.report_ms)
            next_report_ms = now + state.report_ms;  // fell far behind: skip, never burst
    }
}
