/* imu-hip BLE protocol v1: portable encoder (see imu_hip_proto.h, devices/PROTOCOL.md). */
#include "imu_hip_proto.h"

#include <string.h>

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* two's complement bytes of an int16, independent of the host's byte order */
static void put_i16(uint8_t *p, int16_t v)
{
    put_u16(p, (uint16_t)v);
}

uint16_t imuhip_crc16(const uint8_t *data, size_t len, uint16_t crc)
{
    size_t i;
    int b;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t imuhip_max_samples(uint16_t att_mtu)
{
    size_t room;
    if (att_mtu < 3u + IMUHIP_HEADER_SIZE + IMUHIP_CRC_SIZE) {
        return 0;
    }
    room = (size_t)att_mtu - 3u - IMUHIP_HEADER_SIZE - IMUHIP_CRC_SIZE;
    room /= IMUHIP_SAMPLE_SIZE;
    return room > 255u ? 255u : room;
}

size_t imuhip_encode_frame(uint8_t *out, size_t cap, uint8_t sensor_id, uint16_t seq,
                           uint64_t t0_us, uint8_t rate_code, uint8_t acc_range_code,
                           uint8_t gyr_range_code, const imuhip_sample *samples, size_t n)
{
    size_t size, i;
    uint8_t *p;
    int k;
    if (n == 0u || n > 255u) {
        return 0;
    }
    size = IMUHIP_FRAME_SIZE(n);
    if (cap < size) {
        return 0;
    }
    out[0] = (uint8_t)IMUHIP_VERSION;
    out[1] = sensor_id;
    put_u16(out + 2, seq);
    put_u32(out + 4, (uint32_t)(t0_us & 0xFFFFFFFFu));
    put_u16(out + 8, (uint16_t)((t0_us >> 32) & 0xFFFFu));
    out[10] = (uint8_t)n;
    out[11] = rate_code;
    out[12] = (uint8_t)((acc_range_code & 0x0Fu) | (uint8_t)(gyr_range_code << 4));
    p = out + IMUHIP_HEADER_SIZE;
    for (i = 0; i < n; i++) {
        for (k = 0; k < 3; k++) {
            put_i16(p + 2 * k, samples[i].acc[k]);
            put_i16(p + 6 + 2 * k, samples[i].gyr[k]);
        }
        p += IMUHIP_SAMPLE_SIZE;
    }
    put_u16(p, imuhip_crc16(out, size - IMUHIP_CRC_SIZE, 0xFFFFu));
    return size;
}

size_t imuhip_encode_response(uint8_t *out, size_t cap, uint8_t op, uint8_t token, uint8_t status,
                              const uint8_t *payload, size_t payload_len)
{
    if (cap < 3u + payload_len) {
        return 0;
    }
    out[0] = (uint8_t)(op | 0x80u);
    out[1] = token;
    out[2] = status;
    if (payload_len > 0u) {
        memcpy(out + 3, payload, payload_len);
    }
    return 3u + payload_len;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void imuhip_pack_calibration(const imuhip_calibration *cal, uint8_t out[IMUHIP_CALIBRATION_SIZE])
{
    int i;
    for (i = 0; i < 3; i++) {
        put_u32(out + 4 * i, float_bits(cal->acc_bias_mps2[i]));
        put_u32(out + 48 + 4 * i, float_bits(cal->gyr_bias_rads[i]));
    }
    for (i = 0; i < 9; i++) {
        put_u32(out + 12 + 4 * i, float_bits(cal->acc_matrix[i]));
    }
}

int imuhip_unpack_calibration(const uint8_t in[IMUHIP_CALIBRATION_SIZE], imuhip_calibration *cal)
{
    int i;
    for (i = 0; i < 15; i++) {
        if ((get_u32(in + 4 * i) & 0x7F800000u) == 0x7F800000u) {
            return -1; /* infinity or NaN */
        }
    }
    for (i = 0; i < 3; i++) {
        cal->acc_bias_mps2[i] = bits_float(get_u32(in + 4 * i));
        cal->gyr_bias_rads[i] = bits_float(get_u32(in + 48 + 4 * i));
    }
    for (i = 0; i < 9; i++) {
        cal->acc_matrix[i] = bits_float(get_u32(in + 12 + 4 * i));
    }
    return 0;
}

void imuhip_device_init(imuhip_device *dev)
{
    int i;
    memset(dev, 0, sizeof *dev);
    dev->rate_code = 6;      /* 400 Hz */
    dev->acc_range_code = 3; /* +-16 g */
    dev->gyr_range_code = 4; /* +-2000 deg/s */
    for (i = 0; i < 3; i++) {
        dev->cal.acc_matrix[4 * i] = 1.0f;
    }
    dev->battery_pct = 255;
    dev->firmware[0] = 1;
    memcpy(dev->model, "imu-hip", 8);
}

int imuhip_rate_code_valid(uint8_t code)
{
    return code >= 1u && code <= 17u;
}

static int payload_size(uint8_t op)
{
    switch (op) {
    case IMUHIP_OP_START:
    case IMUHIP_OP_STOP:
    case IMUHIP_OP_GET_CONFIG:
    case IMUHIP_OP_READ_CALIBRATION:
    case IMUHIP_OP_BATTERY:
    case IMUHIP_OP_DEVICE_INFO:
        return 0;
    case IMUHIP_OP_SET_RATE:
    case IMUHIP_OP_SET_SENSOR_ID:
        return 1;
    case IMUHIP_OP_SET_RANGE:
        return 2;
    case IMUHIP_OP_WRITE_CALIBRATION:
        return (int)IMUHIP_CALIBRATION_SIZE;
    default:
        return -1;
    }
}

size_t imuhip_handle_command(imuhip_device *dev, const uint8_t *cmd, size_t len, uint8_t *out,
                             size_t cap)
{
    uint8_t op, tok, buf[8 + IMUHIP_MODEL_MAX > IMUHIP_CALIBRATION_SIZE
                             ? 8 + IMUHIP_MODEL_MAX : IMUHIP_CALIBRATION_SIZE];
    const uint8_t *p;
    size_t n = 0, m;
    int want;
    imuhip_calibration cal;

    if (len < 2u) {
        return imuhip_encode_response(out, cap, len ? cmd[0] : 0u, 0u, IMUHIP_BAD_LENGTH, NULL, 0);
    }
    op = cmd[0];
    tok = cmd[1];
    p = cmd + 2;
    want = payload_size(op);
    if (want < 0) {
        return imuhip_encode_response(out, cap, op, tok, IMUHIP_UNKNOWN_COMMAND, NULL, 0);
    }
    if (len - 2u != (size_t)want) {
        return imuhip_encode_response(out, cap, op, tok, IMUHIP_BAD_LENGTH, NULL, 0);
    }
    switch (op) {
    case IMUHIP_OP_START:
        dev->streaming = 1;
        break;
    case IMUHIP_OP_STOP:
        dev->streaming = 0;
        break;
    case IMUHIP_OP_SET_RATE:
        if (!imuhip_rate_code_valid(p[0])) {
            return imuhip_encode_response(out, cap, op, tok, IMUHIP_BAD_VALUE, NULL, 0);
        }
        if (dev->streaming) {
            return imuhip_encode_response(out, cap, op, tok, IMUHIP_BUSY, NULL, 0);
        }
        dev->rate_code = p[0];
        break;
    case IMUHIP_OP_SET_RANGE:
        if (p[0] > 4u || p[1] > 5u) {
            return imuhip_encode_response(out, cap, op, tok, IMUHIP_BAD_VALUE, NULL, 0);
        }
        if (dev->streaming) {
            return imuhip_encode_response(out, cap, op, tok, IMUHIP_BUSY, NULL, 0);
        }
        dev->acc_range_code = p[0];
        dev->gyr_range_code = p[1];
        break;
    case IMUHIP_OP_GET_CONFIG:
        buf[0] = dev->rate_code;
        buf[1] = dev->acc_range_code;
        buf[2] = dev->gyr_range_code;
        buf[3] = dev->sensor_id;
        buf[4] = dev->streaming ? 1u : 0u;
        n = 5;
        break;
    case IMUHIP_OP_READ_CALIBRATION:
        imuhip_pack_calibration(&dev->cal, buf);
        n = IMUHIP_CALIBRATION_SIZE;
        break;
    case IMUHIP_OP_WRITE_CALIBRATION:
        if (imuhip_unpack_calibration(p, &cal) != 0) {
            return imuhip_encode_response(out, cap, op, tok, IMUHIP_BAD_VALUE, NULL, 0);
        }
        dev->cal = cal;
        break;
    case IMUHIP_OP_BATTERY:
        buf[0] = dev->battery_pct;
        put_u16(buf + 1, dev->battery_mv);
        buf[3] = dev->charging ? 1u : 0u;
        n = 4;
        break;
    case IMUHIP_OP_DEVICE_INFO:
        buf[0] = (uint8_t)IMUHIP_VERSION;
        buf[1] = dev->firmware[0];
        buf[2] = dev->firmware[1];
        buf[3] = dev->firmware[2];
        put_u32(buf + 4, dev->serial);
        for (m = 0; m < IMUHIP_MODEL_MAX && dev->model[m] != '\0'; m++) {
            buf[8 + m] = (uint8_t)dev->model[m];
        }
        n = 8 + m;
        break;
    case IMUHIP_OP_SET_SENSOR_ID:
        dev->sensor_id = p[0];
        break;
    default:
        break;
    }
    return imuhip_encode_response(out, cap, op, tok, IMUHIP_OK, buf, n);
}
