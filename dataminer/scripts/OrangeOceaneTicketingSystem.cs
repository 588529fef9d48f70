// Automation script "Orange Oceane Ticketing System": the alarm console's Create Ticket hyperlink runs it.
// Interactive: shows the alarm's ticket when it has one, else asks Priority, Urgency, Technical Impact
// (required), Client Impact and Description, sends them to the oceane-ticket intake and shows the outcome.
// Parameters: DMA ID, Element ID, Alarm ID, Element Name, Alarm Value, Root Time (from the hyperlink's
// placeholders), Intake URL, Intake Token, Alarm Writer (see dataminer/README.md).
namespace OrangeOceaneTicketingSystem
{
	using System;
	using System.Collections.Generic;
	using System.Globalization;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>How long the intake may hold the request open for Oceane's answer (the contract allows 60).</summary>
		private const int WaitSeconds = 30;

		private const string Title = "Create Ticket";

		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			AlarmDetails alarm;
			IntakeSettings settings;
			try
			{
				alarm = AlarmDetails.FromScript(engine);
				settings = IntakeSettings.FromScript(engine);
			}
			catch (InputException e)
			{
				Dialogs.Message(engine, Title, "The Create Ticket hyperlink or script is not configured correctly:", e.Message);
				engine.ExitFail(e.Message);
				return;
			}

			string failure = null;
			using (var intake = new IntakeClient(settings))
			{
				try
				{
					Ask(engine, alarm, settings, intake);
				}
				catch (IntakeException e)
				{
					Dialogs.Message(engine, Title, "The ticket service could not be used:", e.Message);
					failure = e.Message;
				}
			}

			if (failure != null)
			{
				engine.ExitFail(failure);
			}
		}

		private static void Ask(IEngine engine, AlarmDetails alarm, IntakeSettings settings, IntakeClient intake)
		{
			TicketAnswer existing = intake.FindTicket(alarm.Alarm);
			if (existing != null && !existing.IsFailed)
			{
				ShowOutcome(engine, alarm, settings, existing, true);
				return;
			}

			FormSpec form = intake.GetForm();
			var request = new TicketRequest { User = engine.UserLoginName };
			string problem = existing != null && existing.IsFailed
				? "The previous ticket request for this alarm failed: " + existing.Error
				: null;
			while (true)
			{
				if (!Dialogs.TicketDetails(engine, alarm, form, request, problem))
				{
					engine.AddScriptOutput("status", "cancelled");
					return;
				}

				problem = request.Check(form);
				if (problem != null)
				{
					continue;
				}

				TicketAnswer answer;
				try
				{
					answer = intake.CreateTicket(alarm, request, WaitSeconds);
				}
				catch (IntakeException e)
				{
					if (e.StatusCode != 422)
					{
						throw;
					}

					// The intake names the field and what it allows: let the operator fix it in the dialog.
					problem = e.Detail;
					continue;
				}

				ShowOutcome(engine, alarm, settings, answer, answer.Existing);
				return;
			}
		}

		private static void ShowOutcome(IEngine engine, AlarmDetails alarm, IntakeSettings settings, TicketAnswer answer, bool existing)
		{
			engine.AddScriptOutput("instance", answer.Instance);
			engine.AddScriptOutput("status", answer.Status);
			var lines = new List<string>();
			if (answer.IsCreated)
			{
				if (settings.Writer == AlarmWriter.None)
				{
					// No worker write-back configured: this script is the one that marks the alarm.
					PropertyUpdate.ForTicket(alarm.Alarm, answer).Apply(engine);
				}

				engine.AddScriptOutput("ticketId", answer.TicketId);
				engine.AddScriptOutput("ticketUrl", answer.TicketUrl);
				lines.Add((existing ? "This alarm already has Oceane ticket " : "Oceane ticket created: ") + answer.TicketId);
				lines.Add(answer.TicketUrl);
			}
			else if (answer.IsFailed)
			{
				lines.Add("Oceane did not create the ticket.");
				lines.Add(answer.Error);
			}
			else
			{
				lines.Add((existing ? "This alarm already has a ticket request (" : "Ticket request queued (")
					+ answer.Instance + ", " + answer.Status + ").");
				lines.Add(settings.Writer == AlarmWriter.None
					? "Oceane has not answered yet. Use Create Ticket again later to see the ticket and write it onto the alarm."
					: "Oceane has not answered yet. The alarm gets the Oceane Ticket ID and URL as soon as the ticket exists.");
			}

			Dialogs.Message(engine, Title, lines.ToArray());
		}
	}

	/// <summary>The dialogs, built with UIBuilder (part of every DataMiner; nothing extra to install).</summary>
	internal static class Dialogs
	{
		private const string CreateButton = "create";
		private const string CancelButton = "cancel";
		private const string CloseButton = "close";

		/// <summary>Shows the ticket form; fills <paramref name="request"/>; false when the operator cancels.</summary>
		public static bool TicketDetails(IEngine engine, AlarmDetails alarm, FormSpec form, TicketRequest request, string problem)
		{
			var uib = new UIBuilder
			{
				Title = "Create Oceane ticket",
				RequireResponse = true,
				Width = 560,
				ColumnDefs = "160;360",
				RowDefs = "auto;auto;auto;auto;auto;auto;120;auto;auto",
			};
			int row = 0;
			AddText(uib, row++, alarm.ElementName + " - " + alarm.AlarmValue + " (alarm " + alarm.Alarm + ")");
			AddDropDown(uib, row++, "Priority *", "priority", form.Priorities, request.Priority);
			AddDropDown(uib, row++, "Urgency *", "urgency", form.Urgencies, request.Urgency);
			AddDropDown(uib, row++, "Technical Impact *", "technicalImpact", form.TechnicalImpacts, request.TechnicalImpact);
			AddDropDown(uib, row++, "Client Impact", "clientImpact", form.ClientImpacts, request.ClientImpact);
			AddText(uib, row++, "Description (at most " + form.DescriptionMaxLength.ToString(CultureInfo.InvariantCulture) + " characters)");
			uib.AppendBlock(new UIBlockDefinition
			{
				Type = UIBlockType.TextBox,
				DestVar = "description",
				InitialValue = request.Description ?? string.Empty,
				IsMultiline = true,
				Row = row++,
				Column = 0,
				ColumnSpan = 2,
				Height = 110,
			});
			AddText(uib, row++, problem ?? string.Empty);
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Create Ticket", DestVar = CreateButton, Row = row, Column = 0 });
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Cancel", DestVar = CancelButton, Row = row, Column = 1 });

			UIResults uir = engine.ShowUI(uib);
			request.Priority = uir.GetString("priority").Trim();
			request.Urgency = uir.GetString("urgency").Trim();
			request.TechnicalImpact = uir.GetString("technicalImpact").Trim();
			request.ClientImpact = uir.GetString("clientImpact").Trim();
			request.Description = uir.GetString("description");
			return uir.WasButtonPressed(CreateButton);
		}

		/// <summary>Shows some lines of text and a Close button.</summary>
		public static void Message(IEngine engine, string title, params string[] lines)
		{
			var uib = new UIBuilder { Title = title, RequireResponse = true, Width = 520, ColumnDefs = "500" };
			var rows = new List<string>();
			int row = 0;
			foreach (string line in lines)
			{
				rows.Add("auto");
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = line ?? string.Empty, Row = row++, Column = 0 });
			}

			rows.Add("auto");
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Close", DestVar = CloseButton, Row = row, Column = 0 });
			uib.RowDefs = string.Join(";", rows);
			engine.ShowUI(uib);
		}

		private static void AddText(UIBuilder uib, int row, string text)
		{
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = text, Row = row, Column = 0, ColumnSpan = 2 });
		}

		private static void AddDropDown(UIBuilder uib, int row, string label, string destVar, IList<string> options, string current)
		{
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = label, Row = row, Column = 0 });
			var dropDown = new UIBlockDefinition
			{
				Type = UIBlockType.DropDown,
				DestVar = destVar,
				InitialValue = current ?? string.Empty,
				Row = row,
				Column = 1,
				Width = 340,
			};
			// An empty first choice: a required field is never silently pre-filled with the first value.
			dropDown.AddDropDownOption(string.Empty);
			foreach (string option in options)
			{
				dropDown.AddDropDownOption(option);
			}

			uib.AppendBlock(dropDown);
		}
	}
}
