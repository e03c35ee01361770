/* memcpy_baseline.c -- the memory-bandwidth bound of the replay scenarios.
 *
 *   bench_memcpy FILE
 *
 * Reads FILE into memory (not timed), then times memcpy of it into a second
 * buffer of the same size, MC_PASSES times, and prints
 *   bytes B seconds S
 * with S the fastest pass: no decoder can read its input faster than this.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MC_PROG   "bench_memcpy"
#define MC_PASSES 3

static int64_t mc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct stat st;
	uint8_t *src, *dst;
	int64_t best = INT64_MAX;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: " MC_PROG " FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		fprintf(stderr, MC_PROG ": %s: cannot read\n", argv[1]);
		return 1;
	}
	src = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	dst = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED) {
		fprintf(stderr, MC_PROG ": mmap of %lld bytes failed\n", (long long)st.st_size);
		return 1;
	}
	for (int i = 0; i < MC_PASSES; i++) {
		int64_t t0 = mc_now_ns(), ns;

		memcpy(dst, src, (size_t)st.st_size);
		__asm__ volatile("" : : "r"(dst) : "memory");
		ns = mc_now_ns() - t0;
		if (ns < best)
			best = ns;
	}
	printf("bytes %lld seconds %.6f\n", (long long)st.st_size, (double)best / 1e9);
	return 0;
}
