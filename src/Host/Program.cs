using AkkaFed.Host;

// akkafed: the command line (see Cli). Exit codes: 0 success, 1 the run failed, 2 bad usage, 130 interrupted.
return await Cli.RunAsync(args);
