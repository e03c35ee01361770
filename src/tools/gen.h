#ifndef TRADES_GEN_H
#define TRADES_GEN_H
int gen_itch_main(int argc, char **argv);
#endif
