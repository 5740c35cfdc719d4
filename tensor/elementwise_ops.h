// elementwise_ops.h — the one list of the elementwise ops.
//
// Each op family is written down exactly once, here, as an "X-macro": a macro that applies
// another macro X to every row. Whoever needs the list (the enum and the names in backend.h,
// the dispatch in elementwise_math.h, the test tables) expands it with their own X, so the
// places that enumerate ops can never drift apart.
//
// How to add a unary op (say Softplus):
//   1. tensor/elementwise_ops.h     a row X(Softplus, "softplus", Input) in DRIFT_UNARY_OPS.
//   2. tensor/elementwise_math.h    its math row: DRIFT_UNARY(Softplus, f(x), f'(x)).
//                                   (The build fails until steps 1 and 2 agree.)
//   3. autograd/ops.h and autograd/elementwise.cpp   the Tensor function, softplus(x).
//   4. tests/fixtures/gen_core.py   a PyTorch case, then regenerate the fixtures:
//                                   /usr/bin/python3 tests/fixtures/generate.py
//                                   and run it in parity_cases() of tests/test_ops_parity.cpp.
//   5. The op's entry in each table keyed by this list (the tests walk kAllUnaryOps, and an
//      op without an entry fails a test that names the op and the file to edit):
//        tests/test_ops_parity.cpp            unary_op_cases(): the fixture case(s) above
//        tests/test_ops_gradcheck.cpp         unary_gradchecks(): the public call reaching
//                                             the op and its input domain
//        tests/test_elementwise_kernels.cpp   kernel_references(): input ranges and a
//                                             double / libm formula for f and f'
//      tests/test_cuda.cpp walks the list and needs nothing.
// A binary op goes the same way: DRIFT_BINARY_OPS, a DRIFT_BINARY row, add/sub/... in
// autograd/elementwise.cpp, a fixture case, and its entry in binary_op_cases() and
// binary_gradchecks() (the kernel table is for the unary ops only).
#pragma once

// clang-format off  (the rows are aligned as a table)

// The unary ops, y = f(x), with scalar arguments p0, p1 where the op has them.
// Columns: the enum name, the op's name (error messages, autograd node names), and what
// backward reads to compute f'(x): Input (x) or Output (y, where that is cheaper: e^x is y).
//
//     X(Name,      name,          backward reads)    y = f(x)
#define DRIFT_UNARY_OPS(X)                                                                 \
  X(Neg,        "neg",         Input)   /* -x                                          */ \
  X(Exp,        "exp",         Output)  /* e^x                                         */ \
  X(Log,        "log",         Input)   /* ln x                                        */ \
  X(Sqrt,       "sqrt",        Output)  /* sqrt(x)                                     */ \
  X(Abs,        "abs",         Input)   /* |x|                                         */ \
  X(Sin,        "sin",         Input)   /* sin x                                       */ \
  X(Cos,        "cos",         Input)   /* cos x                                       */ \
  X(Relu,       "relu",        Input)   /* max(x, 0)                                   */ \
  X(Silu,       "silu",        Input)   /* x * sigmoid(x)                              */ \
  X(Gelu,       "gelu",        Input)   /* x * Phi(x), Phi the standard normal CDF     */ \
  X(Sigmoid,    "sigmoid",     Output)  /* 1 / (1 + e^-x)                              */ \
  X(Tanh,       "tanh",        Output)  /* tanh x                                      */ \
  X(Pow,        "pow",         Input)   /* x^p0                                        */ \
  X(Square,     "square",      Input)   /* x^2 (no powf: mse_loss's squared error)     */ \
  X(Clamp,      "clamp",       Input)   /* min(max(x, p0), p1)                         */ \
  X(AddScalar,  "add_scalar",  Input)   /* x + p0                                      */ \
  X(MulScalar,  "mul_scalar",  Input)   /* x * p0                                      */ \
  X(Huber,      "huber",       Input)   /* 0.5 x^2 if |x| < p0 else p0 (|x| - 0.5 p0)  */ \
  X(Step,       "step",        Input)   /* p1 if x >= p0 else 0 (dropout masks)        */

// The binary ops with broadcasting, out = f(a, b). Their derivatives are written in
// autograd/elementwise.cpp (each needs the other operand or the output, and a sum over the
// broadcast dimensions), not in a kernel.
//
//     X(Name, name)
#define DRIFT_BINARY_OPS(X) \
  X(Add,  "add")  /* a + b */ \
  X(Sub,  "sub")  /* a - b */ \
  X(Mul,  "mul")  /* a * b */ \
  X(Div,  "div")  /* a / b */
// clang-format on
