#include "commands.h"

#include <stdio.h>
#include <string.h>

/* From the protocol table (the Uno: two servos on pins 9, 10 in microseconds, two PWM pins 5, 6 at duty 0..255). */
const channel_spec teleop_channels[TELEOP_CHANNELS] = TELEOP_CHANNEL_TABLE;
static const char *const channel_kind_names[] = TELEOP_CHANNEL_KIND_NAMES;

static const char *error_text(int code)
{
#define ERROR_CASE(code, text) case code: return text;
    switch (code) {
    TELEOP_ERRORS(ERROR_CASE)
    default: return "error";
    }
#undef ERROR_CASE
}

void error_reply(int code, char *reply, size_t reply_size)
{
    snprintf(reply, reply_size, "ERR %d %s", code, error_text(code));
}

void state_neutral(device_state *state)
{
    state->display = 0;
    state->leds = 0;
    for (uint8_t i = 0; i < TELEOP_CHANNELS; i++)
        state->outputs[i] = teleop_channels[i].neutral;
}

void stop_neutral(device_state *state)
{
    state_neutral(state);
    state->watchdog_tripped = true; /* stays neutral until the next control line resumes it */
}

void state_init(device_state *state, uint32_t now_ms)
{
    state_neutral(state);
    state->report_ms = TELEOP_DEFAULT_REPORT_MS;
    state->watchdog_tripped = true; /* nothing drives the outputs until the host speaks */
    state->last_control_ms = now_ms;
}

void line_reset(line_buffer *line)
{
    line->length = 0;
    line->overflow = false;
    line->text[0] = '\0';
}

enum feed_result line_feed(line_buffer *line, uint8_t byte)
{
    if (byte == '\r')
        return LINE_PENDING;
    if (byte == '\n') {
        enum feed_result result = line->overflow ? LINE_TOO_LONG : (line->length ? LINE_READY : LINE_EMPTY);
        line->text[line->length] = '\0';
        line->length = 0;
        line->overflow = false;
        return result;
    }
    if (line->length >= TELEOP_MAX_LINE) {
        line->overflow = true; /* keep discarding until the newline: the line is rejected whole */
        return LINE_PENDING;
    }
    /* The line is handled as a C string: a NUL would cut it short ("B1<NUL>junk" read as "B1"), so it is
     * kept as DEL, which no command accepts either: the line gets the error its bytes deserve. */
    line->text[line->length++] = byte ? (char)byte : '\x7f';
    return LINE_PENDING;
}

/* Strict decimal: optional sign, 1..6 digits, nothing else. No atoi surprises. */
static bool parse_int(const char *text, long *value)
{
    const char *p = text;
    bool negative = false;
    if (*p == '+' || *p == '-') {
        negative = (*p == '-');
        p++;
    }
    if (*p == '\0')
        return false;
    long result = 0;
    uint8_t digits = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || ++digits > 6)
            return false;
        result = result * 10 + (*p - '0');
    }
    *value = negative ? -result : result;
    return true;
}

#define REJECT(code) do { error_reply((code), reply, reply_size); return false; } while (0)

bool handle_line(device_state *state, const char *text, char *reply, size_t reply_size, uint32_t now_ms)
{
    char command = text[0];
    const char *arg = text + 1;
    long value = 0;
    bool control = false;

    switch (command) {
    case 'B':
        if (!parse_int(arg, &value)) REJECT(ERR_BAD_NUMBER);
        if (value < TELEOP_DISPLAY_MIN || value > TELEOP_DISPLAY_MAX) REJECT(ERR_OUT_OF_RANGE);
        state->display = (int16_t)value;
        control = true;
        break;
    case 'A':
        if (!parse_int(arg, &value)) REJECT(ERR_BAD_NUMBER);
        if (value < TELEOP_LEDS_MIN || value > TELEOP_LEDS_MAX) REJECT(ERR_OUT_OF_RANGE);
        state->leds = (uint8_t)value;
        control = true;
        break;
    case 'O': {
        const char *space = strchr(arg, ' ');
        char channel_text[8];
        long channel = 0;
        size_t n = space ? (size_t)(space - arg) : 0;
        if (!space || n == 0 || n >= sizeof channel_text) REJECT(ERR_BAD_NUMBER);
        memcpy(channel_text, arg, n);
        channel_text[n] = '\0';
        if (!parse_int(channel_text, &channel) || !parse_int(space + 1, &value)) REJECT(ERR_BAD_NUMBER);
        if (channel < 0 || channel >= TELEOP_CHANNELS) REJECT(ERR_BAD_CHANNEL);
        if (value < teleop_channels[channel].low || value > teleop_channels[channel].high) REJECT(ERR_OUT_OF_RANGE);
        state->outputs[channel] = (int16_t)value;
        control = true;
        break;
    }
    case 'H':
        if (*arg) REJECT(ERR_UNKNOWN_COMMAND);
        control = true;
        break;
    case 'I': {
        if (*arg) REJECT(ERR_UNKNOWN_COMMAND);
        int used = snprintf(reply, reply_size, "OK name=%s version=%s protocol=%d outputs=", TELEOP_FIRMWARE_NAME,
                            TELEOP_FIRMWARE_VERSION, TELEOP_PROTOCOL_VERSION);
        for (uint8_t i = 0; i < TELEOP_CHANNELS && used > 0 && (size_t)used < reply_size; i++) {
            const channel_spec *c = &teleop_channels[i];
            used += snprintf(reply + used, reply_size - (size_t)used, "%sO%u:%s:%d:%d:%d", i ? "," : "", i,
                             channel_kind_names[c->kind], c->low, c->high, c->neutral);
        }
        if (used > 0 && (size_t)used < reply_size)
            snprintf(reply + used, reply_size - (size_t)used, " report_ms=%u stop=%u", state->report_ms, (unsigned)TELEOP_STOP_BYTE);
        return false;
    }
    case 'R':
        if (!parse_int(arg, &value)) REJECT(ERR_BAD_NUMBER);
        if (value != 0 && (value < TELEOP_REPORT_MS_MIN || value > TELEOP_REPORT_MS_MAX)) REJECT(ERR_OUT_OF_RANGE);
        state->report_ms = (uint16_t)value;
        snprintf(reply, reply_size, "OK");
        return false;
    default:
        REJECT(ERR_UNKNOWN_COMMAND);
    }

    snprintf(reply, reply_size, "OK");
    bool resumed = false;
    if (control) {
        state->last_control_ms = now_ms;
        if (state->watchdog_tripped) {
            state->watchdog_tripped = false;
            resumed = true;
        }
    }
    return resumed;
}

bool watchdog_poll(device_state *state, uint32_t now_ms)
{
    if (state->watchdog_tripped || (uint32_t)(now_ms - state->last_control_ms) < TELEOP_WATCHDOG_MS)
        return false;
    state->watchdog_tripped = true;
    state_neutral(state);
    return true;
}

enum input_result receive_byte(device_state *state, line_buffer *line, uint8_t byte, uint32_t now_ms, char *out, size_t out_size)
{
    out[0] = '\0';
    if (byte == TELEOP_STOP_BYTE) {
        /* Realtime: never reaches the line buffer, and whatever was half-received there is dropped. */
        line_reset(line);
        stop_neutral(state);
        snprintf(out, out_size, TELEOP_EVT_STOP_NEUTRAL "\n");
        return INPUT_STOP;
    }
    enum feed_result fed = line_feed(line, byte);
    if (fed == LINE_PENDING || fed == LINE_EMPTY)
        return INPUT_NONE;
    if (fed == LINE_TOO_LONG) {
        error_reply(ERR_LINE_TOO_LONG, out, out_size);
    } else {
        /* The reply is written after room for "EVT watchdog resume\n", which goes first when the line resumed. */
        const size_t event = sizeof TELEOP_EVT_WATCHDOG_RESUME; /* its text and a newline */
        if (out_size <= event + 1)
            return INPUT_LINE;
        if (handle_line(state, line->text, out + event, out_size - event, now_ms))
            memcpy(out, TELEOP_EVT_WATCHDOG_RESUME "\n", event);
        else
            memmove(out, out + event, strlen(out + event) + 1);
    }
    size_t used = strlen(out);
    if (used + 1 < out_size) {
        out[used] = '\n';
        out[used + 1] = '\0';
    }
    return INPUT_LINE;
}

void format_report(const device_state *state, const int16_t analog[TELEOP_ANALOG_INPUTS], uint8_t button, char *out, size_t out_size)
{
    size_t used = 0;
#define APPEND(...)                                                            \
    do {                                                                       \
        if (used < out_size) {                                                 \
            int n = snprintf(out + used, out_size - used, __VA_ARGS__);        \
            used = n > 0 ? used + (size_t)n : used;                            \
        }                                                                      \
    } while (0)
    for (uint8_t i = 0; i < TELEOP_ANALOG_INPUTS; i++)
        APPEND("A%u:%d ", i, analog[i]);
    APPEND("D2:%u disp:%d led:%u", button, state->display, state->leds);
    for (uint8_t i = 0; i < TELEOP_CHANNELS; i++)
        APPEND(" O%u:%d", i, state->outputs[i]);
    APPEND(" wd:%u", state->watchdog_tripped ? 1 : 0);
#undef APPEND
}
