/*
 * Many WebSocket observers in one process, in C: the fan-out bench's harness when a C compiler is at hand.
 *
 * The same job as bench/wsload.py, which stays as the fallback, with the same arguments and output: PORT
 * CONNECTIONS SECONDS; connect, upgrade, say hello as an observer, then read every frame on one epoll,
 * answer pings, and record each reading's "bench" value with the kernel's receive time (SO_TIMESTAMPNS),
 * converted to CLOCK_MONOTONIC. At the end, one JSON list of [value, time] pairs per connection.
 *
 * Why C: 200 observers at 50 Hz are 10,000 messages a second. The Python harness spends about 30 us of CPU
 * on each (recvmsg, ancillary data, a regex, a list append), so on a two-core machine it took a third of a
 * core away from the server it was measuring; here a message costs the recvmsg system call and little else.
 *
 *     cc -O2 -o wsload bench/wsload.c && ./wsload PORT CONNECTIONS SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536
#define MAX_EVENTS 1024
/* After the first socket of a burst is readable, wait this long before reading them all (see main). */
#define SETTLE_NS 2000000L

static const char HANDSHAKE[] =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char HELLO[] = "{\"type\":\"hello\",\"role\":\"observer\",\"client\":\"bench\"}";
static const char READING[] = "{\"type\":\"reading\"";
static const char BENCH[] = "\"bench\":";

struct sample {
    long value;
    double time;
};

struct observer {
    int fd;
    int open;
    size_t used; /* bytes of an unfinished frame kept in buf */
    unsigned char buf[BUFFER];
    struct sample *seen;
    size_t count, capacity;
};

static double clock_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* A masked client frame with the all-zero mask key, which leaves the payload as it is (payloads under 126 bytes). */
static void send_frame(int fd, int opcode, const unsigned char *payload, size_t n) {
    unsigned char frame[6 + 125];
    if (n > 125) n = 125;
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | n;
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, payload, n);
    if (send(fd, frame, 6 + n, MSG_NOSIGNAL) < 0 && errno != EAGAIN) perror("send");
}

static void connect_observer(struct observer *o, int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    o->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (o->fd < 0) die("socket");
    if (connect(o->fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int one = 1;
    setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (send(o->fd, HANDSHAKE, sizeof HANDSHAKE - 1, 0) < 0) die("send handshake");
    size_t got = 0;
    char *end = NULL;
    while (!end) { /* the answer's head; anything after it is the start of the first frame */
        ssize_t n = recv(o->fd, o->buf + got, BUFFER - 1 - got, 0);
        if (n <= 0) {
            fprintf(stderr, "the server closed the connection during the handshake\n");
            exit(1);
        }
        got += n;
        o->buf[got] = 0;
        end = strstr((char *)o->buf, "\r\n\r\n");
    }
    if (strncmp((char *)o->buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "upgrade refused: %.*s\n", (int)strcspn((char *)o->buf, "\r\n"), o->buf);
        exit(1);
    }
    size_t head = (size_t)(end - (char *)o->buf) + 4;
    o->used = got - head;
    memmove(o->buf, o->buf + head, o->used);
    send_frame(o->fd, 1, (const unsigned char *)HELLO, sizeof HELLO - 1);
    setsockopt(o->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    o->open = 1;
}

static void record(struct observer *o, long value, double t) {
    if (o->count == o->capacity) {
        o->capacity = o->capacity ? 2 * o->capacity : 1024;
        o->seen = realloc(o->seen, o->capacity * sizeof *o->seen);
        if (!o->seen) die("realloc");
    }
    o->seen[o->count++] = (struct sample){value, t};
}

/* Take every whole frame in o->buf; keep the unfinished rest. */
static void frames(struct observer *o, double t) {
    size_t i = 0;
    while (o->used - i >= 2) {
        unsigned char *f = o->buf + i;
        int opcode = f[0] & 15;
        uint64_t n = f[1] & 127;
        size_t start = 2;
        if (n == 126) {
            if (o->used - i < 4) break;
            n = ((uint64_t)f[2] << 8) | f[3];
            start = 4;
        } else if (n == 127) {
            if (o->used - i < 10) break;
            n = 0;
            for (int k = 2; k < 10; k++) n = (n << 8) | f[k];
            start = 10;
        }
        if (start + n > BUFFER) { /* never from this server's readings; stop rather than misread */
            fprintf(stderr, "frame of %llu bytes is larger than the harness buffer\n", (unsigned long long)n);
            exit(1);
        }
        if (o->used - i < start + n) break;
        unsigned char *payload = f + start;
        if (opcode == 1 && n >= sizeof READING - 1 && memcmp(payload, READING, sizeof READING - 1) == 0) {
            unsigned char *at = memmem(payload, n, BENCH, sizeof BENCH - 1);
            if (at) record(o, strtol((char *)at + sizeof BENCH - 1, NULL, 10), t);
        } else if (opcode == 9) {
            send_frame(o->fd, 10, payload, n);
        }
        i += start + n;
    }
    memmove(o->buf, o->buf + i, o->used - i);
    o->used -= i;
}

/* Read what arrived; 0 once the server closed the connection. */
static int readable(struct observer *o, double now, double offset) {
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {.iov_base = o->buf + o->used, .iov_len = BUFFER - o->used};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(o->fd, &msg, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            struct timespec stamp;
            memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
            now = stamp.tv_sec + stamp.tv_nsec * 1e-9 - offset;
        }
    }
    o->used += n;
    frames(o, now);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[2]);
    double seconds = atof(argv[3]);
    struct observer *observers = calloc(count, sizeof *observers);
    if (!observers) die("calloc");
    int poller = epoll_create1(0);
    for (int k = 0; k < count; k++) {
        connect_observer(&observers[k], port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = k};
        if (epoll_ctl(poller, EPOLL_CTL_ADD, observers[k].fd, &ev) < 0) die("epoll_ctl");
    }
    int left = count;
    double end = clock_seconds(CLOCK_MONOTONIC) + seconds;
    struct epoll_event events[MAX_EVENTS];
    while (left > 0) {
        double remaining = end - clock_seconds(CLOCK_MONOTONIC);
        if (remaining <= 0) break;
        int n = epoll_wait(poller, events, MAX_EVENTS, remaining > 1 ? 1000 : (int)(remaining * 1000) + 1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        if (n > 0) {
            /* The server is writing one reading to every client: let it finish before reading any. Waking for
             * each socket would take the CPU from the server mid-burst (on loopback every send to a sleeping
             * reader is a wakeup on the server's side too), which clients on other machines never do. The
             * figures lose nothing: the arrival time is the kernel's stamp, taken when the data came in. */
            nanosleep(&(struct timespec){0, SETTLE_NS}, NULL);
            n = epoll_wait(poller, events, MAX_EVENTS, 0);
            if (n < 0 && errno != EINTR) die("epoll_wait");
        }
        double now = clock_seconds(CLOCK_MONOTONIC);
        double offset = clock_seconds(CLOCK_REALTIME) - now; /* kernel stamps are wall-clock time */
        for (int e = 0; e < n; e++) {
            struct observer *o = &observers[events[e].data.u32];
            if (o->open && !readable(o, now, offset)) {
                epoll_ctl(poller, EPOLL_CTL_DEL, o->fd, NULL);
                o->open = 0;
                left--;
            }
        }
    }
    for (int k = 0; k < count; k++) {
        struct observer *o = &observers[k];
        putchar('[');
        for (size_t s = 0; s < o->count; s++) printf("%s[%ld, %.9f]", s ? ", " : "", o->seen[s].value, o->seen[s].time);
        puts("]");
    }
    return 0;
}
