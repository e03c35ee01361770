/* crc32c.h -- CRC32C (Castagnoli), SSE4.2 when the CPU has it. */
#ifndef TRADES_CRC32C_H
#define TRADES_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, data, len) gives the standard CRC32C ("123456789" -> 0xE3069283);
 * pass a previous result as crc to continue over more bytes. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
