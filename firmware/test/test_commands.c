/* Host unit tests of the firmware's parser and command rules (built with the host cc by tests/test_firmware.py). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../commands.h"

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static char reply[160];

static void run(device_state *s, const char *text) { handle_line(s, text, reply, sizeof reply, 1000); }

static enum feed_result feed(line_buffer *l, const char *bytes)
{
    enum feed_result r = LINE_PENDING;
    for (; *bytes; bytes++) r = line_feed(l, (uint8_t)*bytes);
    return r;
}

int main(void)
{
    device_state s;
    line_buffer l;
    state_init(&s, 0);
    line_reset(&l);

    /* seed-compatible commands */
    run(&s, "B123"); CHECK(strcmp(reply, "OK") == 0 && s.display == 123);
    run(&s, "B-45"); CHECK(s.display == -45);
    run(&s, "A5"); CHECK(strcmp(reply, "OK") == 0 && s.leds == 5);
    /* output channels with limits */
    run(&s, "O0 1600"); CHECK(strcmp(reply, "OK") == 0 && s.outputs[0] == 1600);
    run(&s, "O2 255"); CHECK(s.outputs[2] == 255);
    run(&s, "O0 900"); CHECK(strcmp(reply, "ERR 3 out of range") == 0 && s.outputs[0] == 1600);
    run(&s, "O7 1500"); CHECK(strcmp(reply, "ERR 5 bad channel") == 0);
    run(&s, "O0"); CHECK(strcmp(reply, "ERR 2 bad number") == 0);
    /* errors */
    run(&s, "Z"); CHECK(strcmp(reply, "ERR 1 unknown command") == 0);
    run(&s, "B12x"); CHECK(strcmp(reply, "ERR 2 bad number") == 0);
    run(&s, "B"); CHECK(strcmp(reply, "ERR 2 bad number") == 0);
    run(&s, "B99999"); CHECK(strcmp(reply, "ERR 3 out of range") == 0);
    run(&s, "B1234567"); CHECK(strcmp(reply, "ERR 2 bad number") == 0);
    run(&s, "A256"); CHECK(strcmp(reply, "ERR 3 out of range") == 0);
    run(&s, "Hx"); CHECK(strcmp(reply, "ERR 1 unknown command") == 0);
    /* info and report rate */
    run(&s, "I"); CHECK(strncmp(reply, "OK name=teleop-uno version=", 27) == 0 && strstr(reply, "O3:pwm:0:255:0"));
    run(&s, "R100"); CHECK(strcmp(reply, "OK") == 0 && s.report_ms == 100);
    run(&s, "R5"); CHECK(strcmp(reply, "ERR 3 out of range") == 0);
    run(&s, "R0"); CHECK(s.report_ms == 0);

    /* line buffer: CR ignored, empty lines ignored, overlong line rejected whole */
    CHECK(feed(&l, "B7\r\n") == LINE_READY && strcmp(l.text, "B7") == 0);
    CHECK(feed(&l, "\n") == LINE_EMPTY);
    char longline[200];
    memset(longline, '1', sizeof longline);
    longline[0] = 'B';
    longline[150] = '\n';
    longline[151] = '\0';
    CHECK(feed(&l, longline) == LINE_TOO_LONG);
    CHECK(feed(&l, "A1\n") == LINE_READY && strcmp(l.text, "A1") == 0);

    /* watchdog: control lines feed it, queries do not */
    device_state w;
    state_init(&w, 0);
    CHECK(w.watchdog_tripped);
    CHECK(handle_line(&w, "O0 1800", reply, sizeof reply, 100) == true); /* resumes */
    CHECK(!watchdog_poll(&w, 599));
    handle_line(&w, "I", reply, sizeof reply, 550);
    CHECK(watchdog_poll(&w, 600));
    CHECK(w.outputs[0] == 1500 && w.display == 0 && w.watchdog_tripped);
    CHECK(!watchdog_poll(&w, 700)); /* once */
    CHECK(handle_line(&w, "H", reply, sizeof reply, 800) == true);
    /* millis() wrap-around */
    state_init(&w, 0xFFFFFF00u);
    handle_line(&w, "H", reply, sizeof reply, 0xFFFFFF00u);
    CHECK(!watchdog_poll(&w, 0x00000010u));
    CHECK(watchdog_poll(&w, 0x00000100u));

    /* report format matches what the host parses */
    int16_t analog[4] = {512, 300, 0, 1023};
    char report[128];
    format_report(&s, analog, 1, report, sizeof report);
    CHECK(strncmp(report, "A0:512 A1:300 A2:0 A3:1023 D2:1 disp:-45 led:5 O0:1600", 54) == 0);

    printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
