/*
 * A sketch like the ones hobbyists already have, for teleop's plain-device tests.
 *
 * It is NOT teleop firmware and knows nothing of it: it takes "B<digits>" and
 * "A<digits>" lines at 9600 baud (a letter, then digits, then a newline; any
 * other character, a minus sign included, is ignored), never replies, prints
 * no banner, and once a second prints the reading of analog pin 3 as a bare
 * number, every other time without a newline. That is how the hobby bridge
 * this project grew from talked to its board.
 *
 * Its "display" is Timer1's OCR1A register, so a test reads what it shows
 * through simavr (`pins` on simavr-bridge's stdin) without any display hardware.
 */

static char command = 0;
static bool reading_value = false;
static long value = 0;
static unsigned long last_print = 0;
static unsigned prints = 0;

static void show(long number)
{
    OCR1A = (uint16_t)number;
}

void setup()
{
    Serial.begin(9600);
    TCCR1A = 0; /* Timer1 stopped: OCR1A simply holds the shown number */
    TCCR1B = 0;
    show(0);
}

void loop()
{
    if (Serial.available()) {
        int c = Serial.read();
        if (reading_value) {
            if (isDigit(c) && value < 100000L) {
                value = value * 10 + (c - '0');
            } else if (c == '\n') {
                if (command == 'B')
                    show(value);
                reading_value = false;
            }
        } else if (isUpperCase(c)) {
            command = (char)c;
            value = 0;
            reading_value = true;
        }
    }
    if (millis() - last_print >= 1000) {
        last_print = millis();
        int level = analogRead(3);
        if (++prints % 2)
            Serial.println(level);
        else
            Serial.print(level);
    }
}
