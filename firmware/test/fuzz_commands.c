/*
 * libFuzzer target for the firmware's line parser and command rules (host build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I.. fuzz_commands.c ../commands.c -o fuzz_commands
 *   ./fuzz_commands -max_total_time=60 corpus/
 * Bytes go through receive_byte(), the same path the sketch uses, the stop byte (0x18)
 * included. Any byte stream must give exactly one well-formed reply per complete line,
 * one "EVT stop neutral" and neutral outputs per stop byte, and keep the device state
 * inside its limits; AddressSanitizer and UBSan catch the rest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"

static void check_state(const device_state *s)
{
    if (s->display < TELEOP_DISPLAY_MIN || s->display > TELEOP_DISPLAY_MAX) abort();
    for (int i = 0; i < TELEOP_CHANNELS; i++)
        if (s->outputs[i] < teleop_channels[i].low || s->outputs[i] > teleop_channels[i].high) abort();
    if (s->report_ms != 0 && (s->report_ms < TELEOP_REPORT_MS_MIN || s->report_ms > TELEOP_REPORT_MS_MAX)) abort();
}

static bool is_neutral(const device_state *s)
{
    if (s->display != 0 || s->leds != 0) return false;
    for (int i = 0; i < TELEOP_CHANNELS; i++)
        if (s->outputs[i] != teleop_channels[i].neutral) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    device_state state;
    line_buffer line;
    char out[TELEOP_OUTPUT_SIZE];
    uint32_t now = 0;
    state_init(&state, now);
    line_reset(&line);
    for (size_t i = 0; i < size; i++) {
        now += data[i] & 0x3F; /* time moves with the input, so the watchdog is exercised too */
        memset(out, 0x7f, sizeof out);
        enum input_result result = receive_byte(&state, &line, data[i], now, out, sizeof out);
        if (memchr(out, '\0', sizeof out) == NULL) abort(); /* terminated */
        size_t length = strlen(out);
        if (result == INPUT_NONE && length != 0) abort();   /* nothing printed for a byte that completes nothing */
        if (result == INPUT_STOP) {
            if (data[i] != TELEOP_STOP_BYTE) abort();
            if (strcmp(out, TELEOP_EVT_STOP_NEUTRAL "\n") != 0) abort();
            if (!is_neutral(&state) || !state.watchdog_tripped || line.length != 0 || line.overflow) abort();
        } else if (data[i] == TELEOP_STOP_BYTE) {
            abort(); /* the stop byte never reaches the line buffer */
        }
        if (result == INPUT_LINE) {
            /* exactly one reply, last, of the right shape; at most the resume event before it */
            const char *reply = out;
            if (strncmp(out, TELEOP_EVT_WATCHDOG_RESUME "\n", sizeof TELEOP_EVT_WATCHDOG_RESUME) == 0)
                reply = out + sizeof TELEOP_EVT_WATCHDOG_RESUME;
            if (strncmp(reply, "OK", 2) != 0 && strncmp(reply, "ERR ", 4) != 0) abort();
            const char *newline = strchr(reply, '\n');
            if (!newline || newline[1] != '\0') abort();
            if ((size_t)(newline - reply) > TELEOP_MAX_REPLY) abort();
        }
        if (line.length > TELEOP_MAX_LINE) abort();
        if (watchdog_poll(&state, now) && !state.watchdog_tripped) abort();
        check_state(&state);
        if (state.watchdog_tripped && !is_neutral(&state)) abort(); /* tripped means neutral */
    }
    return 0;
}
