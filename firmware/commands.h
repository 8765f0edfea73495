/*
 * Command parsing and handling, separate from the hardware so it compiles and
 * is tested on the host (firmware/test) and fuzzed there too. The sketch owns
 * the pins; this code owns the rules. Codes, texts, ranges and the channel
 * table come from protocol.h, generated from server/serial_protocol.py.
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

enum channel_kind { CHANNEL_SERVO = TELEOP_CHANNEL_SERVO, CHANNEL_PWM = TELEOP_CHANNEL_PWM };

typedef struct {
    uint8_t kind;
    int16_t low;
    int16_t high;
    int16_t neutral;
} channel_spec;

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

/* What one received byte did (receive_byte). */
enum input_result {
    INPUT_NONE = 0,  /* absorbed: part of a line, a CR, an empty line */
    INPUT_LINE = 1,  /* a line was handled: out holds its reply (after "EVT watchdog resume" if it resumed) */
    INPUT_STOP = 2,  /* the stop byte: state neutral and tripped, partial line dropped; out holds "EVT stop neutral" */
};

/* Room for everything one byte can make the device print, newlines included. */
#define TELEOP_OUTPUT_SIZE (sizeof TELEOP_EVT_WATCHDOG_RESUME + TELEOP_MAX_REPLY + 2)

void state_init(device_state *state, uint32_t now_ms);
void state_neutral(device_state *state);
void line_reset(line_buffer *line);
/* The line buffer alone. LINE_READY: line->text holds the command. */
enum feed_result line_feed(line_buffer *line, uint8_t byte);

/*
 * The device's whole input rule, one received byte at a time: the stop byte is
 * acted on first, before the line buffer (grbl's realtime commands); every other
 * byte goes to the line buffer, and a complete line is executed. Whatever the
 * device must print (complete lines, each ending in a newline) goes into out,
 * which must hold TELEOP_OUTPUT_SIZE bytes; it is "" for INPUT_NONE.
 */
enum input_result receive_byte(device_state *state, line_buffer *line, uint8_t byte, uint32_t now_ms, char *out, size_t out_size);

/* The realtime stop: every output neutral, the watchdog tripped (outputs stay neutral until the next control line). */
void stop_neutral(device_state *state);

/*
 * Execute one command line and write exactly one reply ("OK ..." or "ERR n text")
 * into reply (no newline). Returns true when the line resumed outputs after a
 * watchdog trip (the caller then prints "EVT watchdog resume" first).
 */
bool handle_line(device_state *state, const char *text, char *reply, size_t reply_size, uint32_t now_ms);
void error_reply(int code, char *reply, size_t reply_size);

/* True exactly once when the watchdog trips; outputs are already neutral then. */
bool watchdog_poll(device_state *state, uint32_t now_ms);

/* The periodic report line (no newline), e.g. "A0:512 A1:300 ... wd:0"; TELEOP_MAX_REPORT + 1 bytes suffice. */
void format_report(const device_state *state, const int16_t analog[TELEOP_ANALOG_INPUTS], uint8_t button, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
