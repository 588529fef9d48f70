// Automation script "Oceane Set Alarm Properties": what the worker runs through Web Services v1
// ExecuteAutomationScriptWithOutput (OCEANE_ALARM_WRITER=webservices). Parameters (all strings): DMA ID,
// Element ID, Alarm ID (the root alarm ID), Oceane Ticket ID, Oceane Ticket URL and, optionally,
// Oceane Ticket Status. Empty values are left alone. A bad parameter fails the script with a message
// naming it, which the web service passes back to the caller.
namespace OceaneSetAlarmProperties
{
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			PropertyUpdate update;
			try
			{
				AlarmRef alarm = AlarmRef.Parse(
					ScriptParams.Get(engine, OceaneNames.DmaIdParam),
					ScriptParams.Get(engine, OceaneNames.ElementIdParam),
					ScriptParams.Get(engine, OceaneNames.AlarmIdParam));
				update = PropertyUpdate.Create(alarm, new Dictionary<string, string>
				{
					{ OceaneNames.TicketIdProperty, ScriptParams.Optional(engine, OceaneNames.TicketIdProperty) },
					{ OceaneNames.TicketUrlProperty, ScriptParams.Optional(engine, OceaneNames.TicketUrlProperty) },
					{ OceaneNames.TicketStatusProperty, ScriptParams.Optional(engine, OceaneNames.TicketStatusProperty) },
				});
			}
			catch (InputException e)
			{
				engine.ExitFail(e.Message);
				return;
			}

			update.Apply(engine);
			engine.AddScriptOutput("result", update.ToJson());
		}
	}
}
