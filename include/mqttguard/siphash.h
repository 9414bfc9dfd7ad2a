/* SPDX-License-Identifier: ISC */
/* siphash — SipHash-2-4 of <len> bytes at <in> under the 16-byte key <k>. */
#ifndef MQTTGUARD_SIPHASH_H
#define MQTTGUARD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t	siphash(const uint8_t *k, const uint8_t *in, size_t len);

#endif
