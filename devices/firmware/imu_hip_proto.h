/*
 * imu-hip BLE protocol, version 1: portable encoder for device firmware.
 *
 * C99, no platform headers beyond <stdint.h>, <stddef.h> and <string.h>; no allocation, no I/O.
 * Specification: devices/PROTOCOL.md. Golden vectors: devices/vectors/imu_hip_v1.json (the
 * imu-hip test suite compiles this file and checks it produces them byte for byte).
 * Assumes IEEE-754 binary32 `float` (true of every Cortex-M, ESP32, RISC-V and x86 target).
 * MIT licence, like the rest of imu-hip.
 */
#ifndef IMU_HIP_PROTO_H
#define IMU_HIP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IMUHIP_VERSION 1u
#define IMUHIP_HEADER_SIZE 13u
#define IMUHIP_CRC_SIZE 2u
#define IMUHIP_SAMPLE_SIZE 12u
#define IMUHIP_FRAME_SIZE(n) (IMUHIP_HEADER_SIZE + IMUHIP_SAMPLE_SIZE * (size_t)(n) + IMUHIP_CRC_SIZE)
#define IMUHIP_CALIBRATION_SIZE 60u
#define IMUHIP_MODEL_MAX 32u

/* GATT (128-bit UUIDs, as text) */
#define IMUHIP_SERVICE_UUID "bb220001-3562-455a-a39d-146e0e7b8983"
#define IMUHIP_DATA_UUID "bb220002-3562-455a-a39d-146e0e7b8983"     /* notify */
#define IMUHIP_CONTROL_UUID "bb220003-3562-455a-a39d-146e0e7b8983"  /* write with response */
#define IMUHIP_RESPONSE_UUID "bb220004-3562-455a-a39d-146e0e7b8983" /* notify */

/* Command opcodes; a response carries (op | 0x80). */
enum {
    IMUHIP_OP_START = 0x01,
    IMUHIP_OP_STOP = 0x02,
    IMUHIP_OP_SET_RATE = 0x03,
    IMUHIP_OP_SET_RANGE = 0x04,
    IMUHIP_OP_GET_CONFIG = 0x05,
    IMUHIP_OP_READ_CALIBRATION = 0x06,
    IMUHIP_OP_WRITE_CALIBRATION = 0x07,
    IMUHIP_OP_BATTERY = 0x08,
    IMUHIP_OP_DEVICE_INFO = 0x09,
    IMUHIP_OP_SET_SENSOR_ID = 0x0A
};

/* Response status codes */
enum {
    IMUHIP_OK = 0,
    IMUHIP_UNKNOWN_COMMAND = 1,
    IMUHIP_BAD_LENGTH = 2,
    IMUHIP_BAD_VALUE = 3,
    IMUHIP_BUSY = 4,
    IMUHIP_FAILED = 5
};

/* One sample in raw counts of the current ranges, sensor frame. */
typedef struct {
    int16_t acc[3];
    int16_t gyr[3];
} imuhip_sample;

/* Stored calibration (SI units): acc = M (raw - acc_bias); gyr = raw - gyr_bias. */
typedef struct {
    float acc_bias_mps2[3];
    float acc_matrix[9]; /* row-major */
    float gyr_bias_rads[3];
} imuhip_calibration;

/* What a device keeps for the command handler. */
typedef struct {
    uint8_t sensor_id;
    uint8_t rate_code;      /* PROTOCOL.md, rate codes */
    uint8_t acc_range_code; /* full scale = 2 << code g, code 0-4 */
    uint8_t gyr_range_code; /* full scale = 125 << code deg/s, code 0-5 */
    uint8_t streaming;
    imuhip_calibration cal;
    uint8_t battery_pct; /* 0-100, 255 = unknown */
    uint16_t battery_mv; /* 0 = unknown */
    uint8_t charging;
    uint8_t firmware[3];
    uint32_t serial;
    char model[IMUHIP_MODEL_MAX + 1]; /* UTF-8, NUL-terminated */
} imuhip_device;

/* CRC-16/CCITT-FALSE: poly 0x1021, MSB first, start with crc = 0xFFFF; check("123456789") = 0x29B1. */
uint16_t imuhip_crc16(const uint8_t *data, size_t len, uint16_t crc);

/* Samples per frame that fit a notification at ATT MTU `att_mtu` (19 at 247). */
size_t imuhip_max_samples(uint16_t att_mtu);

/*
 * Write one data frame of `n` (1-255) samples into `out` (capacity `cap`).
 * `t0_us` is the device time of the first sample in microseconds; only its low 48 bits are sent.
 * Returns the frame length (IMUHIP_FRAME_SIZE(n)), or 0 if n is 0 or `cap` is too small.
 */
size_t imuhip_encode_frame(uint8_t *out, size_t cap, uint8_t sensor_id, uint16_t seq,
                           uint64_t t0_us, uint8_t rate_code, uint8_t acc_range_code,
                           uint8_t gyr_range_code, const imuhip_sample *samples, size_t n);

/* A response: (op | 0x80), token, status, payload. Returns its length, or 0 if `cap` is short. */
size_t imuhip_encode_response(uint8_t *out, size_t cap, uint8_t op, uint8_t token, uint8_t status,
                              const uint8_t *payload, size_t payload_len);

/* 60 bytes: 15 float32 little-endian (acc bias 3, acc matrix 9, gyro bias 3). */
void imuhip_pack_calibration(const imuhip_calibration *cal, uint8_t out[IMUHIP_CALIBRATION_SIZE]);
/* Returns 0, or -1 (and leaves `cal` unchanged) if any value is not finite. */
int imuhip_unpack_calibration(const uint8_t in[IMUHIP_CALIBRATION_SIZE], imuhip_calibration *cal);

/* Defaults: id 0, 400 Hz, +-16 g, +-2000 deg/s, identity calibration, battery unknown, fw 1.0.0. */
void imuhip_device_init(imuhip_device *dev);

/* 1 if the code is valid. */
int imuhip_rate_code_valid(uint8_t code);

/*
 * Apply one command written to the control characteristic and write the response to `out`
 * (send it as a notification on the response characteristic). Returns the response length
 * (at most 3 + 60 bytes for READ_CALIBRATION, 3 + 8 + 32 for DEVICE_INFO), 0 if `cap` is short.
 * The application reacts to dev->streaming and the codes after each call.
 */
size_t imuhip_handle_command(imuhip_device *dev, const uint8_t *cmd, size_t len, uint8_t *out,
                             size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMU_HIP_PROTO_H */
