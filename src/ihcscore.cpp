#include <cstdio>
int main() { std::puts("ihcscore: under construction"); return 1; }
