/*
 * Host test driver for the imu-hip encoder: reads commands on stdin, one per line, and prints
 * one line of lower-case hex per command. Used by tests/test_protocol_imu_hip.py.
 *
 *   crc <hex>                                   -> CRC-16 of the bytes, 4 hex digits
 *   frame <sid> <seq> <t0_us> <rate> <acc> <gyr> <n> <6n counts>   -> frame bytes
 *   init <pct> <mv> <charging> <fw0> <fw1> <fw2> <serial> <model>  -> "ok" (fresh device)
 *   cmd <hex>                                   -> response bytes of the device
 *   cmd -                                       -> response to an empty command
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imu_hip_proto.h"

static size_t from_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned v;
    while (s[0] && s[1] && n < cap && sscanf(s, "%2x", &v) == 1) {
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
    printf("\n");
}

int main(void)
{
    static char line[65536];
    static uint8_t buf[8192], out[8192];
    static imuhip_sample samples[255];
    imuhip_device dev;
    imuhip_device_init(&dev);
    while (fgets(line, sizeof line, stdin)) {
        char *tok = strtok(line, " \n");
        if (!tok) {
            continue;
        }
        if (strcmp(tok, "crc") == 0) {
            char *h = strtok(NULL, " \n");
            size_t n = h ? from_hex(h, buf, sizeof buf) : 0;
            printf("%04x\n", imuhip_crc16(buf, n, 0xFFFFu));
        } else if (strcmp(tok, "frame") == 0) {
            unsigned long long v[7];
            size_t i, n, len;
            int k;
            for (k = 0; k < 7; k++) {
                v[k] = strtoull(strtok(NULL, " \n"), NULL, 10);
            }
            n = (size_t)v[6];
            for (i = 0; i < n && i < 255u; i++) {
                for (k = 0; k < 6; k++) {
                    long c = strtol(strtok(NULL, " \n"), NULL, 10);
                    if (k < 3) {
                        samples[i].acc[k] = (int16_t)c;
                    } else {
                        samples[i].gyr[k - 3] = (int16_t)c;
                    }
                }
            }
            len = imuhip_encode_frame(out, sizeof out, (uint8_t)v[0], (uint16_t)v[1],
                                      (uint64_t)v[2], (uint8_t)v[3], (uint8_t)v[4],
                                      (uint8_t)v[5], samples, n);
            print_hex(out, len);
        } else if (strcmp(tok, "init") == 0) {
            unsigned long v[7];
            int k;
            char *model;
            imuhip_device_init(&dev);
            for (k = 0; k < 7; k++) {
                v[k] = strtoul(strtok(NULL, " \n"), NULL, 10);
            }
            dev.battery_pct = (uint8_t)v[0];
            dev.battery_mv = (uint16_t)v[1];
            dev.charging = (uint8_t)v[2];
            dev.firmware[0] = (uint8_t)v[3];
            dev.firmware[1] = (uint8_t)v[4];
            dev.firmware[2] = (uint8_t)v[5];
            dev.serial = (uint32_t)v[6];
            model = strtok(NULL, " \n");
            memset(dev.model, 0, sizeof dev.model);
            if (model) {
                strncpy(dev.model, model, IMUHIP_MODEL_MAX);
            }
            printf("ok\n");
        } else if (strcmp(tok, "cmd") == 0) {
            char *h = strtok(NULL, " \n");
            size_t n = (h && strcmp(h, "-") != 0) ? from_hex(h, buf, sizeof buf) : 0;
            print_hex(out, imuhip_handle_command(&dev, buf, n, out, sizeof out));
        } else {
            printf("?\n");
        }
        fflush(stdout);
    }
    return 0;
}
