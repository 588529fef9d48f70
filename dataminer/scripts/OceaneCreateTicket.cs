// Automation script "Oceane Create Ticket": the non-interactive variant, for Correlation rules and alarm
// templates (no dialog). The alarm parameters (DMA ID, Element ID, Alarm ID, Element Name, Alarm Value, Root
// Time) come from the rule's action, the ticket details as script parameters: Priority, Urgency, Technical
// Impact (required), Client Impact, Description. The intake's URL and token are read on the Agent
// (IntakeSettings), never passed by the rule. An alarm that already has an open request gets that request back
// (the intake's exactly-once rule).
namespace OceaneCreateTicket
{
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>How long the intake may hold the request open for Oceane's answer.</summary>
		private const int WaitSeconds = 30;

		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			ScriptRun.Headless(engine, "Oceane Create Ticket", () => Create(engine));
		}

		/// <summary>Creates (or finds) the alarm's ticket request; the failure text, or null.</summary>
		private static string Create(IEngine engine)
		{
			List<AlarmDetails> alarms = AlarmDetails.FromScript(engine);
			var details = new TicketDetails
			{
				Priority = ScriptParams.Get(engine, "Priority"),
				Urgency = ScriptParams.Get(engine, "Urgency"),
				TechnicalImpact = ScriptParams.Get(engine, "Technical Impact"),
				ClientImpact = ScriptParams.Optional(engine, "Client Impact"),
				Description = ScriptParams.Optional(engine, "Description"),
				User = engine.UserLoginName,
			};
			string problem = details.Check(null);
			if (problem != null)
			{
				return problem;
			}

			IntakeSettings settings = IntakeSettings.Load();
			using (var intake = new IntakeClient(settings))
			{
				AlarmWriter writer = intake.GetForm().Writer;
				foreach (AlarmDetails alarm in alarms)
				{
					string failure = CreateOne(engine, intake, writer, alarm, details);
					if (failure != null)
					{
						return failure;
					}
				}
			}

			return null;
		}

		private static string CreateOne(IEngine engine, IntakeClient intake, AlarmWriter writer, AlarmDetails alarm, TicketDetails details)
		{
			TicketAnswer answer = intake.CreateTicket(alarm, details, WaitSeconds);
			engine.AddScriptOutput("instance", answer.Instance);
			engine.AddScriptOutput("status", answer.Status);
			engine.AddScriptOutput("existing", answer.Existing ? "true" : "false");
			if (answer.IsFailed)
			{
				return "Oceane did not create the ticket for alarm " + alarm.Alarm + ": " + answer.Error;
			}

			if (answer.IsCreated)
			{
				engine.AddScriptOutput("ticketId", answer.TicketId);
				engine.AddScriptOutput("ticketUrl", answer.TicketUrl);
				if (writer == AlarmWriter.None)
				{
					string writeProblem = PropertyUpdate.TryWriteTicket(engine, alarm.Alarm, answer);
					if (writeProblem != null)
					{
						return "ticket " + answer.TicketId + " exists, but the script " + writeProblem;
					}
				}
			}

			engine.Log("Oceane Create Ticket: alarm " + alarm.Alarm + " -> request " + answer.Instance + " (" + answer.Status + ")");
			return null;
		}
	}
}
