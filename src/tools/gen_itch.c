/* being written: ITCH/MoldUDP64 generator */
#include "gen.h"
#include <stdio.h>
int gen_itch_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "trades-gen: --format itch is being written\n"); return 2; }
