/* Host unit tests of the firmware's parser and command rules (built with the host cc by tests/test_firmware.py). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../commands.h"

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static char reply[TELEOP_MAX_REPLY + 1];

static void run(device_state *s, const char *text) { handle_line(s, text, reply, sizeof reply, 1000); }

static enum feed_result feed(line_buffer *l, const char *bytes)
{
    enum feed_result r = LINE_PENDING;
    for (; *bytes; bytes++) r = line_feed(l, (uint8_t)*bytes);
    return r;
}

/* Bytes through the device's whole input rule, as the sketch feeds them; everything printed is appended to printed. */
static char printed[1024];
static enum input_result input(device_state *s, line_buffer *l, const char *bytes, size_t n, uint32_t now)
{
    char out[TELEOP_OUTPUT_SIZE];
    enum input_result r = INPUT_NONE;
    printed[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        r = receive_byte(s, l, (uint8_t)bytes[i], now, out, sizeof out);
        strncat(printed, out, sizeof printed - strlen(printed) - 1);
    }
    return r;
}
#define INPUT(s, l, literal, now) input((s), (l), (literal), sizeof(literal) - 1, (now))

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
    CHECK(strstr(reply, " protocol=2 ") && strstr(reply, " stop=24"));
    run(&s, "R10000"); run(&s, "I"); CHECK(strlen(reply) <= TELEOP_MAX_REPLY && strstr(reply, "report_ms=10000 stop=24"));
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
    /* a NUL inside a line does not cut it short: "B1<NUL>2" is a bad number, not "B1" */
    device_state z;
    line_buffer zl;
    state_init(&z, 0);
    line_reset(&zl);
    CHECK(INPUT(&z, &zl, "B1\0002\n", 10) == INPUT_LINE && strcmp(printed, "ERR 2 bad number\n") == 0 && z.display == 0);
    CHECK(INPUT(&z, &zl, "H\000\n", 10) == INPUT_LINE && strcmp(printed, "ERR 1 unknown command\n") == 0);

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

    /* the stop byte: acted on before the line buffer, outputs neutral, partial line dropped, no reply */
    device_state d;
    line_buffer dl;
    state_init(&d, 0);
    line_reset(&dl);
    CHECK(INPUT(&d, &dl, "O0 1800\nO2 200\nA3\nB77\n", 10) == INPUT_LINE);
    CHECK(strcmp(printed, "EVT watchdog resume\nOK\nOK\nOK\nOK\n") == 0);
    CHECK(d.outputs[0] == 1800 && d.outputs[2] == 200 && d.leds == 3 && d.display == 77 && !d.watchdog_tripped);
    CHECK(INPUT(&d, &dl, "O1 17\x18", 20) == INPUT_STOP); /* a partial line, then the stop */
    CHECK(strcmp(printed, "EVT stop neutral\n") == 0);
    CHECK(d.outputs[0] == 1500 && d.outputs[1] == 1500 && d.outputs[2] == 0 && d.leds == 0 && d.display == 0);
    CHECK(d.watchdog_tripped && dl.length == 0);
    CHECK(INPUT(&d, &dl, "00\n", 30) == INPUT_LINE && strcmp(printed, "ERR 1 unknown command\n") == 0); /* the partial "O1 17" is gone */
    CHECK(d.outputs[1] == 1500 && d.watchdog_tripped);
    CHECK(INPUT(&d, &dl, "I\n", 40) == INPUT_LINE && d.watchdog_tripped); /* a query does not resume */
    CHECK(!watchdog_poll(&d, 5000)); /* already tripped: no second neutral event */
    CHECK(INPUT(&d, &dl, "\x18\x18", 50) == INPUT_STOP && strcmp(printed, "EVT stop neutral\nEVT stop neutral\n") == 0); /* one per byte */
    CHECK(INPUT(&d, &dl, "O0 1900\n\x18", 60) == INPUT_STOP); /* a complete line before the stop is still answered, in order */
    CHECK(strcmp(printed, "EVT watchdog resume\nOK\nEVT stop neutral\n") == 0 && d.outputs[0] == 1500 && d.watchdog_tripped);
    CHECK(INPUT(&d, &dl, "H\n", 70) == INPUT_LINE && strcmp(printed, "EVT watchdog resume\nOK\n") == 0 && !d.watchdog_tripped);
    char overlong[TELEOP_MAX_LINE + 20];
    memset(overlong, '1', sizeof overlong);
    overlong[0] = 'B';
    input(&d, &dl, overlong, sizeof overlong, 80);
    CHECK(dl.overflow);
    CHECK(INPUT(&d, &dl, "\x18" "A1\n", 90) == INPUT_LINE && strcmp(printed, "EVT stop neutral\nEVT watchdog resume\nOK\n") == 0);
    CHECK(d.leds == 1); /* the stop also ended the overlong line: the next line is read normally */

    /* report format matches what the host parses */
    int16_t analog[4] = {512, 300, 0, 1023};
    char report[TELEOP_MAX_REPORT + 1];
    format_report(&s, analog, 1, report, sizeof report);
    CHECK(strncmp(report, "A0:512 A1:300 A2:0 A3:1023 D2:1 disp:-45 led:5 O0:1600", 54) == 0);

    printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
