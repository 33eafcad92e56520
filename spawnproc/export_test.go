package spawnproc

// OutputWaitDelay is how long reaping a child waits for its output.
const OutputWaitDelay = outputWaitDelay
