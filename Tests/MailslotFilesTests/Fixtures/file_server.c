// A mailslot server in C with nothing but POSIX file calls (no Mailslot header, no library): it creates
// the mailslot with open(O_CREAT | O_EXCL | O_RDONLY), waits with poll(2), and reads one message per
// read(2), printing each as one line of hex; closing the descriptor deletes the mailslot.
//
// usage: file_server PATH COUNT       prints "ready", one hex line per message, then "done"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH COUNT\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_CREAT | O_EXCL | O_RDONLY, 0622);
    if (fd < 0) {
        printf("open: %s\n", strerror(errno));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    static unsigned char message[1 << 20];
    for (long i = 0, count = atol(argv[2]); i < count; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 60000) != 1 || !(p.revents & POLLIN)) {
            printf("poll: no message (revents %#x)\n", p.revents);
            return 1;
        }
        ssize_t n = read(fd, message, sizeof message);
        if (n < 0) {
            printf("read: %s\n", strerror(errno));
            return 1;
        }
        for (ssize_t j = 0; j < n; j++) printf("%02x", message[j]);
        printf("\n");
        fflush(stdout);
    }
    close(fd);
    printf("done\n");
    return 0;
}
