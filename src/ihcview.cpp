#include <cstdio>
int main() { std::puts("ihcview: under construction"); return 1; }
