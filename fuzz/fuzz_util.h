/*
 * fuzz_util.h - what the libFuzzer targets of fuzz/ share: a check that aborts with a
 * message (libFuzzer then saves the input), a small PRNG, and a chunker that splits the
 * input in lengths drawn from a seed.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CHECK: an invariant of the code under test. A failure is a finding: it prints where and
 * aborts, so libFuzzer writes the crashing input to its artifact. */
#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz check failed: %s at %s:%d\n", #cond, __FILE__,  \
				__LINE__);                                                  \
			abort();                                                            \
		}                                                                           \
	} while (0)

#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);                        \
		if (a_ != b_) {                                                             \
			fprintf(stderr, "fuzz check failed: %s == %s (%lld != %lld) at %s:%d\n", \
				#a, #b, a_, b_, __FILE__, __LINE__);                        \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* xorshift32; a zero seed is made non-zero. */
struct fuzz_rng {
	uint32_t s;
};

static inline void fuzz_rng_init(struct fuzz_rng *r, uint32_t seed)
{
	r->s = seed ? seed : 0x9E3779B9u;
}

static inline uint32_t fuzz_rng_next(struct fuzz_rng *r)
{
	uint32_t x = r->s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return r->s = x;
}

/* The length of the next chunk (1..left): mode 0 one byte at a time, 1..254 random
 * lengths up to mode, 255 random lengths up to the whole rest. */
static inline size_t fuzz_chunk(struct fuzz_rng *r, uint8_t mode, size_t left)
{
	size_t max, n;

	if (left == 0)
		return 0;
	if (mode == 0)
		return 1;
	max = mode == 255 ? left : mode;
	n = 1 + fuzz_rng_next(r) % max;
	return n < left ? n : left;
}

/* strnlen without asking for POSIX. */
static inline size_t fuzz_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

#endif /* FUZZ_UTIL_H */
