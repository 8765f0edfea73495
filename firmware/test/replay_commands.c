/*
 * The firmware's input rules as a filter: bytes from the host on stdin, what the device
 * would print on stdout (replies and events, exactly as receive_byte() makes them), then
 * one report line of the final state with every analog input and the button at 0.
 * tests/test_protocol_table.py feeds the same bytes to the Python simulator and compares.
 */
#include <stdio.h>

#include "../commands.h"

int main(void)
{
    device_state state;
    line_buffer line;
    char out[TELEOP_OUTPUT_SIZE];
    state_init(&state, 0);
    line_reset(&line);
    int byte;
    while ((byte = getchar()) != EOF) {
        receive_byte(&state, &line, (uint8_t)byte, 1000, out, sizeof out);
        fputs(out, stdout);
    }
    int16_t analog[TELEOP_ANALOG_INPUTS] = {0};
    char report[TELEOP_MAX_REPORT + 1];
    format_report(&state, analog, 0, report, sizeof report);
    printf("%s\n", report);
    return 0;
}
