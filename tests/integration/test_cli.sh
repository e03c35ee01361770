#!/usr/bin/env bash
exit 77 # being written
