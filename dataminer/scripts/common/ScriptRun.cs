// How the kit's scripts without a dialog (Oceane Create Ticket, Oceane Rule Ticket, Oceane Alarm Event) end: a
// failure, returned or thrown as bad input or an intake problem, is logged under the script's name and fails the
// script with its text (the rule's or template's run then shows why); success ends the script normally.
namespace Oceane.DataMiner
{
	using System;

	using Skyline.DataMiner.Automation;

	/// <summary>Runs a script's work and turns its failure into the script's failure.</summary>
	public static class ScriptRun
	{
		/// <summary>Runs <paramref name="work"/>, which returns its failure text or null.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		/// <param name="name">The script's name, as its log lines start.</param>
		/// <param name="work">The script's work.</param>
		public static void Headless(IEngine engine, string name, Func<string> work)
		{
			string failure;
			try
			{
				failure = work();
			}
			catch (InputException e)
			{
				failure = e.Message;
			}
			catch (IntakeException e)
			{
				failure = e.Message;
			}

			if (failure != null)
			{
				engine.Log(name + ": " + failure);
				engine.ExitFail(failure);
			}
		}
	}
}
