/*
 * Command parsing and handling, separate from the hardware so it compiles and
 * is tested on the host (firmware/test) and fuzzed there too. The sketch owns
 * the pins; this code owns the rules.
 */
#ifndef TELEOP_COMMANDS_H
#define TELEOP_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

enum channel_kind { CHANNEL_SERVO = 0, CHANNEL_PWM = 1 };

typedef struct {
    uint8_t kind;
    int16_t low;
    int16_t high;
    int16_t neutral;
} channel_spec;

#define TELEOP_CHANNELS 4
extern const channel_spec teleop_channels[TELEOP_CHANNELS];

typedef struct {
    int16_t display;
    uint8_t leds;
    int16_t outputs[TELEOP_CHANNELS];
    uint16_t report_ms;
    bool watchdog_tripped;
    uint32_t last_control_ms;
} device_state;

/* Fixed buffer, no heap: bytes go in one at a time. */
typedef struct {
    char text[TELEOP_MAX_LINE + 1];
    uint8_t length;
    bool overflow;
} line_buffer;

enum feed_result { LINE_PENDING = 0, LINE_READY = 1, LINE_TOO_LONG = 2, LINE_EMPTY = 3 };

void state_init(device_state *state, uint32_t now_ms);
void state_neutral(device_state *state);
void line_reset(line_buffer *line);
/* Feed one received byte. LINE_READY: line->text holds the command. */
enum feed_result line_feed(line_buffer *line, uint8_t byte);

/*
 * Execute one command line and write exactly one reply ("OK ..." or "ERR n text")
 * into reply (no newline). Returns true when the line resumed outputs after a
 * watchdog trip (the caller then prints "EVT watchdog resume" first).
 */
bool handle_line(device_state *state, const char *text, char *reply, size_t reply_size, uint32_t now_ms);
void error_reply(int code, char *reply, size_t reply_size);

/* True exactly once when the watchdog trips; outputs are already neutral then. */
bool watchdog_poll(device_state *state, uint32_t now_ms);

/* The periodic report line (no newline), e.g. "A0:512 A1:300 ... wd:0". */
void format_report(const device_state *state, const int16_t analog[4], uint8_t button, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
