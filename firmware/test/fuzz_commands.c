/*
 * libFuzzer target for the firmware's line parser and command rules (host build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I.. fuzz_commands.c ../commands.c -o fuzz_commands
 *   ./fuzz_commands -max_total_time=60 corpus/
 * Any byte stream must give exactly one well-formed reply per complete line and keep the
 * device state inside its limits; AddressSanitizer and UBSan catch the rest.
 */
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
    if (s->watchdog_tripped) {
        /* tripped means neutral */
        if (s->display != 0 || s->leds != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    device_state state;
    line_buffer line;
    char reply[160];
    uint32_t now = 0;
    state_init(&state, now);
    line_reset(&line);
    for (size_t i = 0; i < size; i++) {
        now += data[i] & 0x3F; /* time moves with the input, so the watchdog is exercised too */
        enum feed_result result = line_feed(&line, data[i]);
        if (result == LINE_READY || result == LINE_TOO_LONG) {
            memset(reply, 0x7f, sizeof reply);
            if (result == LINE_TOO_LONG)
                error_reply(ERR_LINE_TOO_LONG, reply, sizeof reply);
            else
                handle_line(&state, line.text, reply, sizeof reply, now);
            if (memchr(reply, '\0', sizeof reply) == NULL) abort();               /* terminated */
            if (strncmp(reply, "OK", 2) != 0 && strncmp(reply, "ERR ", 4) != 0) abort(); /* one reply, right shape */
            if (strchr(reply, '\n')) abort();                                       /* never two lines */
            if (result == LINE_TOO_LONG && strncmp(reply, "ERR 4 ", 6) != 0) abort();
        }
        if (line.length > TELEOP_MAX_LINE) abort();
        if (watchdog_poll(&state, now) && !state.watchdog_tripped) abort();
        check_state(&state);
    }
    return 0;
}
