// The SDK: one dependency-free IIFE, dist/checkout.js, that defines window.PaymentGateway and nothing else.
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: false, // the page's build is already there
    target: "es2017",
    lib: { entry: "src/sdk.ts", name: "PaymentGateway", formats: ["iife"], fileName: () => "checkout.js" },
  },
});
