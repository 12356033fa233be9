/**
 * Fixed-point constants shared by the "islow" integer DCTs (libjpeg's jfdctint.c and
 * jidctint.c use the same set): FIX(x) = round(x * 2^CONST_BITS), and the extra precision
 * PASS1_BITS that the first pass keeps for the second.
 */
export const CONST_BITS = 13;
export const PASS1_BITS = 2;

export const FIX_0_298631336 = 2446;
export const FIX_0_390180644 = 3196;
export const FIX_0_541196100 = 4433;
export const FIX_0_765366865 = 6270;
export const FIX_0_899976223 = 7373;
export const FIX_1_175875602 = 9633;
export const FIX_1_501321110 = 12299;
export const FIX_1_847759065 = 15137;
export const FIX_1_961570560 = 16069;
export const FIX_2_053119869 = 16819;
export const FIX_2_562915447 = 20995;
export const FIX_3_072711026 = 25172;
