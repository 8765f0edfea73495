/*
 * The serial line protocol between teleop-server and this firmware.
 * All reply codes live here; tests/test_firmware.py checks them against
 * server.serial_protocol.DeviceError so host and device can never disagree.
 */
#ifndef TELEOP_PROTOCOL_H
#define TELEOP_PROTOCOL_H

#define TELEOP_FIRMWARE_NAME "teleop-uno"
#define TELEOP_FIRMWARE_VERSION "0.1.0"
#define TELEOP_PROTOCOL_VERSION 1

/* Longest command line accepted, without its newline. A longer line is rejected whole. */
#define TELEOP_MAX_LINE 63

/* ERR <code> <text> */
#define ERR_UNKNOWN_COMMAND 1
#define ERR_BAD_NUMBER 2
#define ERR_OUT_OF_RANGE 3
#define ERR_LINE_TOO_LONG 4
#define ERR_BAD_CHANNEL 5

/* No control line (B, A, O, H) for this long: every output to neutral. */
#define TELEOP_WATCHDOG_MS 500UL
#define TELEOP_DEFAULT_REPORT_MS 50

#define TELEOP_DISPLAY_MIN (-9999)
#define TELEOP_DISPLAY_MAX 9999
#define TELEOP_REPORT_MS_MIN 10
#define TELEOP_REPORT_MS_MAX 10000

#endif
