System.Console.WriteLine(AkkaFed.Model.Probe.Hi());
